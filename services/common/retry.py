"""Wait for a dependency with capped backoff, saying so in the logs, never crash-looping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from services.common.logging import get_logger

log = get_logger(__name__)


def backoff_delays(first: float = 0.5, cap: float = 30.0) -> Any:
    """0.5, 1, 2, 4 … seconds, capped: fast when a blip, gentle when an outage."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


def wait_until_available(
    check: Callable[[], None],
    dependency: str,
    sleep: Callable[[float], None] = time.sleep,
    give_up_after: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Call `check` until it stops raising; log each failure with the next delay.

    `cancelled` lets a stopping process give up at once instead of finishing the wait.
    """
    started = time.monotonic()
    for attempt, delay in enumerate(backoff_delays(), start=1):
        try:
            check()
        except Exception as exc:
            if cancelled() or (
                give_up_after is not None and time.monotonic() - started > give_up_after
            ):
                raise
            log.warning(
                "dependency.unavailable",
                dependency=dependency,
                attempt=attempt,
                retry_in_s=delay,
                error=type(exc).__name__,
                detail=str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "",
            )
            sleep(delay)
        else:
            if attempt > 1:
                log.info("dependency.available", dependency=dependency, attempts=attempt)
            return
