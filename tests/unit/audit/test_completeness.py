"""Completeness's pure parts: when to retry, when to stop waiting, what a report says."""

from __future__ import annotations

from datetime import UTC, datetime

from services.audit import completeness
from services.audit.completeness import Completeness, Lag

T = datetime(2030, 1, 1, tzinfo=UTC)


def ready(*pending: int) -> Completeness:
    lags = tuple(Lag(f"s{i}", n, T if n else None) for i, n in enumerate(pending))
    return Completeness(T, T, T, lags)


def test_complete_only_when_no_service_is_behind():
    assert ready(0, 0).complete and not ready(0, 1).complete
    assert ready(3, 4).pending == 7
    body = ready(0, 2).as_dict()
    assert body["complete"] is False and body["pending"] == 2
    assert body["services"]["s1"] == {"pending": 2, "oldest_pending": T.isoformat()}
    assert body["services"]["s0"]["oldest_pending"] is None


def test_retry_after_grows_with_the_backlog_within_one_minute():
    assert [completeness.retry_after(n) for n in (0, 1, 50, 51, 10**9)] == [1, 1, 1, 2, 60]


def test_settle_stops_at_the_first_complete_answer_or_at_the_deadline():
    answers = iter([ready(5), ready(1), ready(0), ready(9)])
    assert completeness.settle(lambda: next(answers), 10.0).complete
    assert next(answers).pending == 9  # asked three times, not four
    calls = []
    late = completeness.settle(lambda: calls.append(1) or ready(1), 0.0)
    assert not late.complete and len(calls) == 1  # no wait asked: one look
