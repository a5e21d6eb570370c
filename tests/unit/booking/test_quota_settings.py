"""Read quotas from config: every kind has one, or booking does not start (ADR 0014)."""

from __future__ import annotations

import pytest

from services.booking.context import settings_from_config
from services.booking.quota import KINDS, Limit, config_key, quotas_from_config
from services.common.config import shipped_defaults

SHIPPED = shipped_defaults("booking", "BOOKING_QUOTA_")


def test_the_shipped_defaults_are_the_documented_ones():
    quotas = quotas_from_config(SHIPPED)
    assert quotas.limits == {
        "connector": Limit(20000, 500),
        "practitioner": Limit(5000, 500),
        "staff": Limit(5000, 500),
        "patient": Limit(300, 50),
        "unauthenticated": Limit(120, 30),
    }


def test_services_are_not_metered_and_an_unknown_kind_gets_the_strictest():
    quotas = quotas_from_config(SHIPPED)
    assert quotas.of("service") is None
    assert quotas.of("connector") == Limit(20000, 500)
    assert quotas.of("robot") == Limit(120, 30)


def test_spaces_around_the_numbers_are_read():
    assert quotas_from_config({**SHIPPED, config_key("patient"): " 10 / 2 "}).of("patient") == (
        Limit(10, 2)
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "value", [None, "", "300", "0/5", "5/0", "-3/1", "3.5/1", "300/50/1", "1e3/5", "99999999/1"]
)
def test_an_absent_or_unreadable_quota_stops_booking_naming_its_key(kind, value):
    config = {**SHIPPED, config_key(kind): value}
    if value is None:
        del config[config_key(kind)]
    with pytest.raises(ValueError, match=config_key(kind)):
        settings_from_config(config)


def test_settings_carry_the_quotas():
    assert settings_from_config(SHIPPED).quotas == quotas_from_config(SHIPPED)
