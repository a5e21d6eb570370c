"""The one poller of the suite: relays, consumers and services answer asynchronously."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """predicate() once it is truthy; AssertionError naming `what` (and the last value) if it
    is still falsy after `timeout` seconds. It is always called once more after the deadline,
    so a slow machine never fails a check that has meanwhile come true."""
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() > deadline
        value = predicate()
        if value:
            return value
        if late:
            shown = repr(value)
            shown = shown if len(shown) <= 300 else f"{shown[:300]}…"
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {shown}")
        time.sleep(interval)
