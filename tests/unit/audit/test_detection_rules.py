"""The detection rules, pure: each tolerates its threshold and fires one above it; cooldown."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.audit.detection import rules
from services.audit.detection.observe import event_time, observe
from services.audit.detection.rules import Tally
from services.audit.detection.settings import (
    DetectionConfigError,
    DetectionSettings,
    config_key,
)
from tests.contract.examples import EXAMPLES

S = DetectionSettings()
T0 = datetime(2030, 1, 3, 10, 0, tzinfo=UTC)


def tally(**counts) -> Tally:
    return Tally(T0, T0 + timedelta(minutes=10), **counts)


def test_d1_without_history_fires_above_the_floor():
    assert rules.d1_volume(S, tally(returned=S.d1_min_volume)) is None
    finding = rules.d1_volume(S, tally(returned=S.d1_min_volume + 1, accesses=3))
    assert finding and finding.rule == "D1_volume" and finding.recommended_action == "suspend"
    assert finding.threshold == S.d1_min_volume and finding.severity == "high"


def test_d1_follows_the_principals_own_baseline():
    baseline = 100.0  # factor 10 -> 1000, above the floor, below the cap
    assert rules.d1_volume(S, tally(returned=1000, baseline=baseline)) is None
    finding = rules.d1_volume(S, tally(returned=1001, baseline=baseline))
    assert finding and finding.threshold == 1000 and finding.tally.baseline == baseline


def test_d1_absolute_cap_holds_whatever_the_baseline():
    huge = tally(returned=S.d1_absolute_cap, baseline=10_000.0)
    assert rules.d1_volume(S, huge) is None
    finding = rules.d1_volume(S, replace(huge, returned=S.d1_absolute_cap + 1))
    assert finding and finding.severity == "critical"


def test_d2_weighs_patients_read_against_patients_booked():
    booked = 400  # factor 2 -> 800: above the floor (100), below the cap (1000)
    assert rules.d2_patient_spread(S, tally(distinct_patients=800, booked_patients=booked)) is None
    finding = rules.d2_patient_spread(S, tally(distinct_patients=801, booked_patients=booked))
    assert finding and finding.rule == "D2_patient_spread" and finding.threshold == 800
    assert finding.recommended_action == "review"


def test_d2_floor_and_cap():
    assert rules.d2_patient_spread(S, tally(distinct_patients=S.d2_min_patients)) is None
    assert rules.d2_patient_spread(S, tally(distinct_patients=S.d2_min_patients + 1))
    many = tally(distinct_patients=S.d2_absolute_cap, booked_patients=10_000)
    assert rules.d2_patient_spread(S, many) is None
    assert rules.d2_patient_spread(S, replace(many, distinct_patients=S.d2_absolute_cap + 1))


def test_d3_fires_on_the_first_read_outside_the_grants_by_default():
    assert rules.d3_outside_grant(S, tally(denied=5, reach_denied=0)) is None
    finding = rules.d3_outside_grant(S, tally(denied=1, reach_denied=1))
    assert finding and finding.rule == "D3_outside_grant" and finding.threshold == 0
    strict = replace(S, d3_max_denials=2)
    assert rules.d3_outside_grant(strict, tally(reach_denied=2)) is None
    assert rules.d3_outside_grant(strict, tally(reach_denied=3))


def test_d4_counts_refused_reads_and_failed_sign_ins_together():
    half = S.d4_max_failures // 2
    at = tally(denied=half, auth_failures=S.d4_max_failures - half)
    assert rules.d4_probing(S, at) is None
    finding = rules.d4_probing(S, replace(at, auth_failures=at.auth_failures + 1))
    assert finding and finding.observed == S.d4_max_failures + 1


def test_d5_first_use_is_the_baseline_a_new_address_after_it_fires():
    assert rules.d5_new_address(S, tally(new_address="192.0.2.1", known_addresses=0)) is None
    assert rules.d5_new_address(S, tally(new_address=None, known_addresses=3)) is None
    finding = rules.d5_new_address(S, tally(new_address="192.0.2.9", known_addresses=1))
    assert finding and finding.rule == "D5_new_address" and "192.0.2.9" not in finding.summary


def test_d6_fires_above_the_number_of_deep_pages():
    assert rules.d6_deep_paging(S, tally(deep_pages=S.d6_max_pages)) is None
    finding = rules.d6_deep_paging(S, tally(deep_pages=S.d6_max_pages + 1))
    assert finding and finding.rule == "D6_deep_paging"


@pytest.mark.parametrize("rule", rules.RULES)
def test_every_rule_is_wired_and_summaries_hold_counts_only(rule):
    busy = tally(
        accesses=10_000,
        returned=10_000,
        denied=1_000,
        reach_denied=1_000,
        auth_failures=1_000,
        deep_pages=1_000,
        distinct_patients=10_000,
        new_address="192.0.2.7",
        known_addresses=1,
        access_ids=(uuid.uuid4(),),
        addresses=("192.0.2.7",),
    )
    finding = rules.RULE_FUNCTIONS[rule](S, busy)
    assert finding and finding.rule == rule and finding.summary.startswith(rule)
    assert "@" not in finding.summary and "192.0.2.7" not in finding.summary
    assert rules.window_of(S, rule) >= 60


def test_cooldown_keeps_a_rule_quiet_for_its_window_only():
    until = T0 + timedelta(seconds=S.d1_window_s)
    assert not rules.cooling(None, T0)
    assert rules.cooling(until, T0)
    assert rules.cooling(until, until - timedelta(microseconds=1))
    assert not rules.cooling(until, until)


@pytest.mark.parametrize(
    ("reason", "reach"),
    [
        ("no read grant on this practitioner's agenda", True),
        ("this appointment is outside your reach", True),
        ("a patient may search only their own appointments", True),
        ("no write access to this agenda", True),
        ("only an admin may erase a patient's medical data", False),
        (None, False),
    ],
)
def test_reach_denials_are_told_apart(reason, reach):
    assert rules.is_reach_denial(reason) is reach


@pytest.mark.parametrize(
    ("query", "returned", "deep"),
    [
        ("GET /fhir/Appointment?practitioner=x&_count=100", 3, True),
        ("GET /fhir/Appointment?_count=99", 3, False),
        ("GET /fhir/Appointment?_count=20&_cursor=abc", 20, True),
        ("GET /fhir/Appointment", 100, True),  # a full maximal page, whatever was asked
        ("GET /fhir/Appointment", 20, False),
        ("practitioner=x&_count=100", 3, True),
        ("practitioner=x&date=ge2030-01-02", 3, False),
        ("rpc read_appointment_for 00000000-0000-4000-8000-000000000004", 1, False),
    ],
)
def test_deep_pages(query, returned, deep):
    assert rules.is_deep_page(query, returned, 100) is deep


def test_settings_from_config_keys_and_refusals():
    config = {
        "AUDIT_D1_WINDOW_SECONDS": "300",
        "AUDIT_D4_MAX_FAILURES": 5,
        "AUDIT_D2_FACTOR": "1.5",
    }
    s = DetectionSettings.from_config({**config, "AUDIT_DETECTION_ENABLED": "false"})
    assert (s.d1_window_s, s.d4_max_failures, s.d2_factor, s.enabled) == (300, 5, 1.5, False)
    assert DetectionSettings.from_config({"AUDIT_D1_FACTOR": ""}) == S
    assert config_key("d2_booking_horizon_s") == "AUDIT_D2_BOOKING_HORIZON_SECONDS"
    for bad in (
        {"AUDIT_D1_WINDOW_SECONDS": "90"},
        {"AUDIT_D3_MAX_DENIALS": "-1"},
        {"AUDIT_D4_MAX_FAILURES": "many"},
        {"AUDIT_D6_MAX_PAGES": "2.5"},
    ):
        with pytest.raises(DetectionConfigError):
            DetectionSettings.from_config(bad)


def test_observe_an_access_record_in_event_time():
    data = {
        **EXAMPLES["AppointmentsAccessed"],
        "outcome": "denied",
        "denial_reason": "no read grant on this practitioner's agenda",
    }
    event = SimpleNamespace(
        event_id=uuid.uuid4(),
        event_type="AppointmentsAccessed",
        occurred_at="2030-01-03T10:04:30+00:00",
        correlation_id="c",
        payload=data,
    )
    obs = observe(event, S, now=T0)
    assert obs and obs.at == T0 + timedelta(minutes=4, seconds=30)
    assert obs.minute == T0 + timedelta(minutes=4)
    assert obs.denied and obs.reach_denied and obs.returned == 0 and obs.patient_ids == ()
    assert event_time("not a time", T0) == T0 and event_time("2030-01-03T10:00:00", T0) == T0
