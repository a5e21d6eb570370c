"""The detection rules and the sync contract, pure: what each read counts for, each rule's
steps (a threshold N tolerates N), cooldowns, settings and observations."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.audit.detection import classify, rules
from services.audit.detection.classify import Prior
from services.audit.detection.observe import Access, Entry, asked_practitioners, event_time, observe
from services.audit.detection.rules import Tally
from services.audit.detection.settings import DetectionConfigError, DetectionSettings, config_key
from tests.contract.examples import EXAMPLES

S = DetectionSettings()
T0 = datetime(2030, 1, 3, 10, 0, tzinfo=UTC)
ME, OTHER = uuid.uuid4(), uuid.uuid4()


def tally(**counts) -> Tally:
    return Tally(T0, T0 + timedelta(hours=1), **counts)


def prior(**known) -> Prior:
    return Prior(
        uuid.uuid4(), known.pop("patient", OTHER), known.pop("practitioner", OTHER), **known
    )


# -- the sync contract: which reads are explained -------------------------------------------


def test_a_first_read_within_the_horizon_is_explained():
    assert classify.read_marks("connector", ME, prior(start_at=T0), T0, S) == frozenset()


def test_a_read_again_unchanged_is_a_reread():
    p = prior(last_read_at=T0 - timedelta(hours=2), changed_at=T0 - timedelta(days=3), start_at=T0)
    assert classify.read_marks("connector", ME, p, T0, S) == {"reread"}


def test_a_delta_is_explained_changed_since_or_just_before_the_last_read():
    read_at = T0 - timedelta(hours=1)
    since = prior(last_read_at=read_at, changed_at=read_at + timedelta(minutes=5))
    overlap = prior(
        last_read_at=read_at, changed_at=read_at - timedelta(seconds=S.detection_overlap_s - 1)
    )
    before = replace(overlap, changed_at=read_at - timedelta(seconds=S.detection_overlap_s))
    assert classify.read_marks("connector", ME, since, T0, S) == frozenset()
    assert classify.read_marks("connector", ME, overlap, T0, S) == frozenset()
    assert classify.read_marks("connector", ME, before, T0, S) == {"reread"}


def test_an_agenda_granted_again_is_synced_again():
    p = prior(last_read_at=T0 - timedelta(days=2), granted_at=T0 - timedelta(days=1))
    assert classify.read_marks("connector", ME, p, T0, S) == frozenset()


def test_older_than_the_horizon_is_deep_unless_it_changed_within_it():
    old = T0 - timedelta(seconds=S.detection_horizon_s + 60)
    assert classify.read_marks("connector", ME, prior(start_at=old, changed_at=old), T0, S) == {
        "deep"
    }
    fresh = prior(start_at=old, changed_at=T0 - timedelta(days=1))
    assert classify.read_marks("connector", ME, fresh, T0, S) == frozenset()
    unknown = prior(start_at=None)  # booking's event not seen yet: not judged
    assert classify.read_marks("connector", ME, unknown, T0, S) == frozenset()


def test_served_after_the_grant_ended_is_beyond_the_grants_after_the_lag():
    ended = prior(grant_ended_at=T0 - timedelta(seconds=S.detection_grant_lag_s + 1))
    racing = prior(grant_ended_at=T0 - timedelta(seconds=S.detection_grant_lag_s - 1))
    assert classify.read_marks("connector", ME, ended, T0, S) == {"beyond"}
    assert classify.read_marks("connector", ME, racing, T0, S) == frozenset()


def test_people_read_their_own_data_as_they_like_and_nobody_elses():
    again = {"last_read_at": T0 - timedelta(hours=1), "changed_at": T0 - timedelta(days=9)}
    assert classify.read_marks("patient", ME, prior(patient=ME, **again), T0, S) == frozenset()
    assert classify.read_marks("patient", ME, prior(patient=OTHER), T0, S) == {"beyond"}
    own = prior(practitioner=ME, **again)
    assert classify.read_marks("practitioner", ME, own, T0, S) == frozenset()
    assert classify.read_marks("practitioner", ME, prior(), T0, S) == {"beyond"}


def test_staff_have_no_sync_every_read_needs_a_reason_but_a_write_echoed_back():
    assert classify.read_marks("staff", ME, prior(start_at=T0), T0, S) == {"reread"}
    assert classify.read_marks("staff", ME, prior(start_at=T0), T0, S, "create") == frozenset()
    again = prior(last_read_at=T0 - timedelta(hours=1), changed_at=T0 - timedelta(days=9))
    assert classify.read_marks("connector", ME, again, T0, S, "update") == frozenset()
    assert classify.read_marks("service", ME, prior(start_at=T0), T0, S) == frozenset()


def refusal(code: str, kind: str = "connector", principal=ME, targets=(), asked=()) -> Access:
    return Access(T0, uuid.uuid4(), kind, principal, None, "192.0.2.1", None, None, True, code, 0,
                  targets=targets, asked=asked)  # fmt: skip


def test_refusals_count_as_probing_outside_grants_or_not_at_all():
    held, never = uuid.uuid4(), uuid.uuid4()
    aimed_held = (Entry(uuid.uuid4(), OTHER, held),)
    assert classify.refusal_marks(refusal("quota"), frozenset()) == {"quota"}  # D10 only
    assert classify.refusal_marks(refusal("not_found"), frozenset()) == {"refused"}
    assert classify.refusal_marks(refusal("reach", targets=aimed_held), frozenset({held})) == {
        "stale"
    }
    outside = classify.refusal_marks(refusal("reach", asked=(held, never)), frozenset({held}))
    assert outside == {"refused", "outside"}
    patient = refusal("reach", kind="patient", targets=aimed_held)
    assert classify.refusal_marks(patient, frozenset({held})) == {"refused", "outside"}
    assert classify.refusal_marks(refusal("unauthenticated"), frozenset()) == {
        "unauthenticated",
        "refused",
    }
    nobody = refusal("unauthenticated", kind="unknown", principal=None)
    assert classify.refusal_marks(nobody, frozenset()) == {"unauthenticated"}


# -- the rules: graduated steps -------------------------------------------------------------


def test_d1_scales_with_the_reach_above_its_floors():
    small, large = 330, 13_200  # 1 and 40 agendas of ~330 appointments
    assert rules.d1_reread(S, tally(rereads=S.d1_throttle_floor, reach=small)) is None
    f = rules.d1_reread(S, tally(rereads=S.d1_throttle_floor + 1, reach=small))
    assert f and (f.recommended_action, f.threshold, f.severity) == ("throttle", 50, "high")
    f = rules.d1_reread(S, tally(rereads=S.d1_suspend_floor + 1, reach=small))
    assert f and (f.recommended_action, f.severity) == ("suspend", "critical")
    assert rules.d1_reread(S, tally(rereads=264, reach=large)) is None  # 2 % of 13,200
    f = rules.d1_reread(S, tally(rereads=529, reach=large))
    assert f and f.recommended_action == "suspend" and f.threshold == pytest.approx(528)


def test_d2_reviews_then_throttles_then_suspends_over_a_day():
    reach = 1_650
    actions = [
        getattr(rules.d2_slow_reread(S, tally(rereads=n, reach=reach)), "recommended_action", None)
        for n in (100, 101, 248, 300, 495, 600, 990)
    ]
    assert actions == [None, "review", "review", "review", "throttle", "throttle", "suspend"]


def test_d3_d4_d5_steps():
    assert rules.d3_deep_past(S, tally(deep=50, reach=0)) is None
    assert rules.d3_deep_past(S, tally(deep=101, reach=0)).recommended_action == "suspend"
    assert rules.d4_outside_grants(S, tally()) is None
    d4 = [rules.d4_outside_grants(S, tally(reach_refused=n)).recommended_action for n in (1, 4, 11)]
    assert d4 == ["review", "throttle", "suspend"]
    assert rules.d4_outside_grants(S, tally(beyond=4)).recommended_action == "throttle"
    assert rules.d5_probing(S, tally(refused=10, auth_failures=10)) is None
    assert rules.d5_probing(S, tally(refused=11, auth_failures=10)).recommended_action == "throttle"
    assert rules.d5_probing(S, tally(refused=51)).recommended_action == "suspend"


def test_d6_d7_review_only_d8_throttles_a_burst_from_a_new_address():
    assert rules.d6_refused_tokens(S, tally(unauthenticated=10)) is None
    assert (
        rules.d6_refused_tokens(S, tally(unauthenticated=5, auth_failures=6)).recommended_action
        == "review"
    )
    assert rules.d7_token_replay(S, tally(unauthenticated=21)).recommended_action == "review"
    assert rules.d8_new_address(S, tally(new_addresses=3)) is None
    assert rules.d8_new_address(S, tally(new_addresses=4)).recommended_action == "review"
    burst = rules.d8_new_address(S, tally(new_address_reads=26, reach=330))
    assert burst and burst.recommended_action == "throttle"
    assert rules.d9_linked(S, tally(contained_links=1)).recommended_action == "throttle"


def test_d10_a_client_that_waits_retry_after_is_left_alone_one_that_presses_is_not():
    assert rules.d10_ignores_retry_after(S, tally(over_quota=600)) is None
    d10 = [rules.d10_ignores_retry_after(S, tally(over_quota=n)) for n in (601, 1200, 1201)]
    assert [f.recommended_action for f in d10 if f] == ["throttle", "throttle", "suspend"]
    assert rules.window_of(S, rules.D10) == 600  # "D10", not "D1": its own settings


@pytest.mark.parametrize("rule", rules.RULES)
def test_every_rule_is_wired_and_summaries_hold_counts_only(rule):
    busy = tally(
        accesses=10_000, returned=10_000, refused=1_000, reach_refused=1_000,
        unauthenticated=1_000, auth_failures=1_000, rereads=10_000, deep=10_000, beyond=10,
        new_address_reads=10_000, new_addresses=9, distinct_patients=10_000, reach=13_200,
        contained_links=1, over_quota=10_000, access_ids=(uuid.uuid4(),),
        addresses=("192.0.2.7",),
    )  # fmt: skip
    finding = rules.RULE_FUNCTIONS[rule](S, busy)
    assert finding and finding.rule == rule and finding.summary.startswith(rule)
    assert "@" not in finding.summary and "192.0.2.7" not in finding.summary
    assert len(finding.summary) <= 500 and rules.window_of(S, rule) >= 60
    assert rule in rules.SAMPLE_OF


def test_cooldown_quiets_the_same_or_a_lower_step_for_its_window_only():
    until = T0 + timedelta(hours=1)
    assert not rules.quiet(None, 0, T0)
    assert rules.quiet((1, until), 1, T0) and rules.quiet((1, until), 0, T0)
    assert not rules.quiet((1, until), 2, T0)  # a higher step is news
    assert not rules.quiet((1, until), 1, until)


# -- settings and observations --------------------------------------------------------------


def test_settings_from_config_keys_and_refusals():
    config = {"AUDIT_D1_WINDOW_SECONDS": "1800", "AUDIT_D5_THROTTLE": 5,
              "AUDIT_D1_THROTTLE_SHARE": "0.01", "AUDIT_LINK_MAX_GROUP": "3"}  # fmt: skip
    s = DetectionSettings.from_config({**config, "AUDIT_DETECTION_ENABLED": "false"})
    assert (s.d1_window_s, s.d5_throttle, s.d1_throttle_share, s.link_max_group) == (
        1800,
        5,
        0.01,
        3,
    )
    assert not s.enabled and DetectionSettings.from_config({"AUDIT_D1_THROTTLE_FLOOR": ""}) == S
    assert config_key("detection_horizon_s") == "AUDIT_DETECTION_HORIZON_SECONDS"
    for bad in (
        {"AUDIT_D1_WINDOW_SECONDS": "90"},
        {"AUDIT_D4_THROTTLE": "-1"},
        {"AUDIT_D5_SUSPEND": "many"},
        {"AUDIT_D6_REVIEW": "2.5"},
        {"AUDIT_D1_THROTTLE_SHARE": "1.5"},
        {"AUDIT_D1_SUSPEND_SHARE": "nan"},
        {"AUDIT_D1_THROTTLE_FLOOR": "500"},  # above its suspend floor
        {"AUDIT_D4_SUSPEND": "2"},  # below its throttle step
        {"AUDIT_LINK_MAX_GROUP": "1"},
    ):
        with pytest.raises(DetectionConfigError):
            DetectionSettings.from_config(bad)


def event(event_type: str, payload: dict, at: str = "2030-01-03T10:04:30+00:00") -> SimpleNamespace:
    return SimpleNamespace(event_id=uuid.uuid4(), event_type=event_type, occurred_at=at,
                           correlation_id="c", payload=payload)  # fmt: skip


def test_observe_a_refused_search_in_event_time_with_what_it_aimed_at():
    wanted = uuid.uuid4()
    query = f"GET /fhir/Appointment?practitioner={wanted}"
    data = {**EXAMPLES["AppointmentsAccessed"], "outcome": "denied", "denial_code": "reach",
            "denial_reason": "no read grant", "query": query}  # fmt: skip
    obs = observe(event("AppointmentsAccessed", data), now=T0)
    assert isinstance(obs, Access) and obs.at == T0 + timedelta(minutes=4, seconds=30)
    assert obs.denied and obs.denial_code == "reach" and obs.returned == 0 and obs.entries == ()
    assert obs.asked == (wanted,)
    assert event_time("not a time", T0) == T0 and event_time("2030-01-03T10:00:00", T0) == T0


def test_observe_a_served_read_and_the_reference_facts():
    obs = observe(event("AppointmentsAccessed", EXAMPLES["AppointmentsAccessed"]), now=T0)
    assert isinstance(obs, Access) and len(obs.entries) == len(
        EXAMPLES["AppointmentsAccessed"]["entries"]
    )
    assert obs.fingerprint == "0123456789abcdef" and obs.principal_kind
    grant = observe(event("ConnectorAuthorized", EXAMPLES["ConnectorAuthorized"]), now=T0)
    assert grant.granted
    write_only = {**EXAMPLES["ConnectorAuthorized"], "operations": ["write"]}
    assert not observe(event("ConnectorAuthorized", write_only), now=T0).granted
    vendor = observe(event("ConnectorRegistered", EXAMPLES["ConnectorRegistered"]), now=T0)
    assert vendor.vendor == "example vendor"
    assert observe(event("SlotsOpened", EXAMPLES["SlotsOpened"]), now=T0) is None


def test_asked_practitioners_from_a_query():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert asked_practitioners(f"GET /fhir/Appointment?practitioner=Practitioner/{a},{b}") == (a, b)
    assert asked_practitioners(f"actor={a}&date=ge2030-01-01") == (a,)
    assert asked_practitioners("GET /fhir/Appointment/123") == ()
