"""Retry and lease settings: a lease can never be shorter than a send may take."""

from services.notification.handlers import reminder_lead, settings_from_config


def test_lease_outlasts_the_smtp_timeout():
    settings = settings_from_config({"NOTIFICATION_LEASE_SECONDS": 2, "SMTP_TIMEOUT": 10})
    assert settings.lease_s == 21


def test_configured_lease_wins_when_longer():
    assert settings_from_config({"NOTIFICATION_LEASE_SECONDS": 60}).lease_s == 60


def test_backoff_doubles_and_is_capped():
    s = settings_from_config({"NOTIFICATION_BACKOFF_SECONDS": 2})
    assert [s.backoff(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
    assert s.backoff(30).total_seconds() == s.backoff_cap_s


def test_reminder_lead_defaults_to_a_day():
    assert reminder_lead({}).total_seconds() == 86400
