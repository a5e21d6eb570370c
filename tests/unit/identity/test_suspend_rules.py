"""Which detection rules suspend a connector: D1, D3, D4 by default; V1 names still understood."""

from services.identity.settings import DEFAULT_SUSPEND_RULES, settings_from_config


def test_default_suspends_on_volume_outside_grant_and_probing():
    assert DEFAULT_SUSPEND_RULES == ("D1_volume", "D3_outside_grant", "D4_probing")
    assert settings_from_config({}).suspend_on_rules == DEFAULT_SUSPEND_RULES


def test_v1_rule_names_in_an_old_configuration_keep_their_meaning():
    config = {"IDENTITY_SUSPEND_ON_RULES": "enumeration, D4_probing,D5_new_address"}
    assert settings_from_config(config).suspend_on_rules == ("D4_probing", "D5_new_address")


def test_an_empty_policy_suspends_on_nothing():
    assert settings_from_config({"IDENTITY_SUSPEND_ON_RULES": ""}).suspend_on_rules == ()
