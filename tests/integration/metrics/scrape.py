"""Read a service's real /metrics endpoint, as Prometheus would, and wait for a value."""

from __future__ import annotations

from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.poll import eventually


class Scrape:
    """One scrape of `base`/metrics: samples by name and labels."""

    def __init__(self, base: str) -> None:
        text = requests.get(f"{base}/metrics", timeout=10).text
        self.samples = [
            s for family in text_string_to_metric_families(text) for s in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """Sum of the matching samples; None when no sample matches (absent)."""
        found = [
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        ]
        return sum(found) if found else None


def metric(base: str, name: str, **labels: str) -> float:
    """The value now (0 when absent: a counter never incremented is not exported)."""
    return Scrape(base).value(name, **labels) or 0.0


def wait_for_metric(
    base: str,
    name: str,
    ok: Callable[[float | None], bool],
    timeout: float = 30.0,
    **labels: str,
) -> float | None:
    """Scrape until `ok(value)`; fail with the last value seen."""
    last: list[float | None] = [None]

    def passing() -> tuple[float | None] | None:
        last[0] = Scrape(base).value(name, **labels)
        return (last[0],) if ok(last[0]) else None  # a tuple: 0 may be the awaited value

    try:
        return eventually(passing, timeout, f"{name}{labels}", interval=0.1)[0]
    except AssertionError:
        raise AssertionError(f"{name}{labels} stayed at {last[0]}") from None
