"""Identity's settings: the containment kill-switch and the throttle, read strictly at start."""

import pytest

from services.identity.settings import SettingsError, settings_from_config


def test_defaults_contain_automatically_with_a_one_hour_throttle():
    s = settings_from_config({})
    assert (s.auto_contain, s.throttle_per_hour, s.throttle_burst, s.throttle_s) == (
        True,
        500,
        50,
        3600,
    )


@pytest.mark.parametrize(("text", "on"), [("false", False), ("0", False), ("No", False),
                                          ("true", True), ("", True)])  # fmt: skip
def test_the_kill_switch_reads_plain_words(text, on):
    assert settings_from_config({"IDENTITY_AUTO_CONTAIN": text}).auto_contain is on


@pytest.mark.parametrize(
    "config",
    [
        {"IDENTITY_AUTO_CONTAIN": "maybe"},
        {"IDENTITY_THROTTLE_PER_HOUR": "0"},
        {"IDENTITY_THROTTLE_PER_HOUR": "ten"},
        {"IDENTITY_THROTTLE_PER_HOUR": "100", "IDENTITY_THROTTLE_BURST": "101"},
        {"IDENTITY_THROTTLE_SECONDS": "-1"},
        {"IDENTITY_TOKEN_TTL_SECONDS": "0"},
    ],
)
def test_a_value_identity_cannot_run_with_names_its_key(config):
    with pytest.raises(SettingsError) as refused:
        settings_from_config(config)
    assert next(iter(config)) in str(refused.value)


@pytest.mark.parametrize("where", ["config", "environment"])
def test_the_retired_rule_list_stops_the_service_instead_of_being_ignored(where):
    retired = {"IDENTITY_SUSPEND_ON_RULES": ""}  # it meant "never suspend": say so, loudly
    config, environ = (retired, {}) if where == "config" else ({}, retired)
    with pytest.raises(SettingsError, match="IDENTITY_AUTO_CONTAIN=false"):
        settings_from_config(config, environ)
