"""Detection's scenario bench in its short form (`make bench-detection` runs it in full and
writes docs/detection.md): issue #19's Done-when on simulated time, through the real engine and
PostgreSQL. The quick run differs only in running the first syncs, the minute syncer, the busy
clinic and the revoked grant for two days instead of seven, and the slow scraper for three."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scripts.bench._detection_measure import Outcome
from scripts.bench._detection_run import run_all
from scripts.bench._detection_verdicts import FEW_DOZEN, SOON_AFTER, quota_per_day
from scripts.bench._detection_world import PER_AGENDA


@pytest.fixture(scope="module")
def outcomes(migrated_database_url: str) -> dict[str, Outcome]:
    return {o.key: o for o in run_all(migrated_database_url, quick=True, say=lambda _: None)}


def test_honest_partners_are_never_throttled_or_suspended(outcomes):
    honest = [o for o in outcomes.values() if o.honest]
    assert len(honest) == 9
    for o in honest:
        assert (o.false_positives, o.throttled_after, o.suspended_after) == (0, None, None), o.key
    week = [o.key for o in honest if o.simulated >= timedelta(days=7)]
    assert {"hourly_week", "outage", "migration"} <= set(week)
    # The migration re-reads everything while trusted: findings, for review only.
    assert outcomes["migration"].reviews >= 1
    assert all(o.reviews == 0 for o in honest if o.key != "migration")


@pytest.mark.parametrize("key", ["burst", "warmup"])
def test_a_burst_within_grants_is_contained_after_at_most_a_tenth_of_its_reach(outcomes, key):
    o = outcomes[key]
    assert o.reach > 30 * PER_AGENDA and o.suspended_after is not None
    assert o.throttled_after <= o.suspended_after < timedelta(seconds=10)
    assert o.share_at_suspension <= 0.10


def test_two_connectors_from_one_address_are_both_contained_and_linked(outcomes):
    o = outcomes["two_connectors"]
    assert o.principals == 2 and o.suspended_after is not None  # both suspended
    assert o.cross_linked >= 2  # each one's findings name the other
    # At the lag of a second ADR 0014 promises: the connector's burst (500) bounds what each
    # takes before the finding reaches booking.
    assert o.share_at_suspension <= 0.10


def test_a_fresh_patient_probing_ids_is_throttled_within_a_few_dozen_then_suspended(outcomes):
    o = outcomes["patient_prober"]
    assert o.throttled_after is not None and o.refused_at_throttle <= FEW_DOZEN
    assert o.suspended_after is not None and o.refused_at_suspension <= SOON_AFTER
    assert o.taken_at_suspension == 0  # reach held: nobody else's appointment was served


def test_a_slow_scraper_is_flagged_within_a_day_and_bounded(outcomes):
    o = outcomes["slow"]
    assert o.first_review_after is not None and o.first_review_after <= timedelta(days=1)
    assert o.taken_per_day <= quota_per_day("connector")
    assert o.suspended_after is not None  # D2 goes on to throttle, then suspend, within the day


@pytest.mark.parametrize("key", ["probing", "rotating"])
def test_the_other_scrapers_are_contained_too(outcomes, key):
    o = outcomes[key]
    assert o.suspended_after is not None and o.share_at_suspension <= 0.10


def test_no_attack_throttles_or_suspends_its_honest_bystander(outcomes):
    attacks = [o for o in outcomes.values() if not o.honest]
    assert len(attacks) == 7
    for o in attacks:
        assert o.false_positives == 0, o.key
