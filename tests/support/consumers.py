"""In-process consumers notice a stop request within 0.1 s, not kombu's 1 s.

kombu's ConsumerMixin waits for a message at most `safety_interval` (1 s) before it checks
whether it should stop; nameko stops a service's consumers in two or three such stages, so
every in-process service took 2-3 s to stop, at the end of every test world. Only how often an
idle consumer wakes changes: what it consumes, acks or requeues does not. Services run as
processes (`nameko run`, Supervisor) keep kombu's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kombu.mixins import ConsumerMixin

STOP_POLL_S = 0.1
_consume = ConsumerMixin.consume


def _consume_polling_faster(
    self: ConsumerMixin,
    limit: int | None = None,
    timeout: float | None = None,
    safety_interval: float = 1,
    **kwargs: Any,
) -> Iterator[Any]:
    """ConsumerMixin.consume, waking at least every STOP_POLL_S to see a stop request."""
    return _consume(self, limit, timeout, min(safety_interval, STOP_POLL_S), **kwargs)


def poll_faster() -> None:
    """Install the shorter wait, once, for the whole test process."""
    ConsumerMixin.consume = _consume_polling_faster  # type: ignore[method-assign]
