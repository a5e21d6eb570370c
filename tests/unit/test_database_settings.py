"""A service's PostgreSQL settings: pool sizes, the pooler mode, the relay's session URL."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from services.common.database_settings import DatabaseSettings

URL = "postgresql://booking@db.example.org:6432/carnet"


def test_defaults_are_a_pool_of_one_to_ten_and_the_relay_on_the_same_url():
    s = DatabaseSettings.from_config({"DATABASE_URL": URL, "DATABASE_POOLER": ""})
    assert (s.pool_min, s.pool_max, s.pooler, s.session_url) == (1, 10, "none", URL)
    assert "prepare_threshold" not in s.pool_kwargs("booking")


def test_behind_pgbouncer_the_pool_prepares_nothing_and_the_relay_goes_direct(monkeypatch):
    monkeypatch.setenv("CARNET_INSTANCE_ID", "booking-7f9c")
    direct = "postgresql://booking@db-rw.example.org:5432/carnet"
    s = DatabaseSettings.from_config({
        "DATABASE_URL": URL, "DATABASE_POOLER": "pgbouncer-transaction",
        "DATABASE_POOL_MAX_SIZE": "4", "RELAY_DATABASE_URL": direct,
    })  # fmt: skip
    kwargs = s.pool_kwargs("booking")
    assert kwargs["prepare_threshold"] is None and s.pool_max == 4
    assert kwargs["application_name"] == "booking:pool:booking-7f9c"
    relay = conninfo_to_dict(s.relay_conninfo("booking"))
    assert relay["host"] == "db-rw.example.org" and relay["port"] == "5432"
    assert relay["application_name"] == "booking:relay:booking-7f9c"


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"DATABASE_POOL_MAX_SIZE": "ten"}, "DATABASE_POOL_MAX_SIZE must be a whole number"),
        ({"DATABASE_POOL_MAX_SIZE": "0"}, "need 0 <= min <= max and max >= 1"),
        ({"DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "2"}, "need 0 <= min"),
        ({"DATABASE_POOLER": "pgpool"}, "DATABASE_POOLER='pgpool': one of none, pgbouncer-"),
    ],
)
def test_a_bad_value_stops_the_service_naming_it(config, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        DatabaseSettings.from_config(config)


def test_the_application_name_fits_postgresql(monkeypatch):
    monkeypatch.setenv("CARNET_INSTANCE_ID", "x" * 200)
    name = DatabaseSettings.from_config({}).pool_kwargs("notification")["application_name"]
    assert len(name.encode()) <= 63 and name.startswith("notification:pool:x")
