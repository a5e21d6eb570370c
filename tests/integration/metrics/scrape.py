"""Read a service's real /metrics endpoint, as Prometheus would, and wait for a value."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families


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
    deadline = time.monotonic() + timeout
    while True:
        value = Scrape(base).value(name, **labels)
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} stayed at {value}")
        time.sleep(0.1)
