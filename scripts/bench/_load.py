"""An open-loop load generator: requests due at a fixed rate, timed from when each was due.

Requests are sent at t0 + i / rate by a pool of threads, whatever the answers' latency, so a
slow system cannot slow the offered load down (no coordinated omission): a request sent late
because every thread was busy counts its wait in its latency.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

# send(i, session) -> (HTTP status, what to keep of the answer, e.g. the new appointment's id)
Send = Callable[[int, requests.Session], tuple[int, str | None]]


@dataclass
class Call:
    """One request: when it was due, sent, answered (wall clock, s), and its outcome."""

    due: float
    sent: float
    done: float
    status: int
    result: str | None

    @property
    def latency(self) -> float:
        """From due to answered: what a client arriving at `due` waited."""
        return self.done - self.due

    @property
    def service_time(self) -> float:
        """From sent to answered: the request itself."""
        return self.done - self.sent


def open_loop(
    send: Send,
    rate: float,
    seconds: float,
    threads: int,
    stop: threading.Event | None = None,
) -> list[Call]:
    """`rate * seconds` requests due at a fixed rate; returns every call, in due order."""
    n = int(rate * seconds)
    calls: list[Call | None] = [None] * n
    t0 = time.time() + 0.1
    lock, nxt = threading.Lock(), iter(range(n))

    def worker() -> None:
        session = requests.Session()
        while not (stop and stop.is_set()):
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            due = t0 + i / rate
            if (pause := due - time.time()) > 0:
                time.sleep(pause)
            sent = time.time()
            try:
                status, result = send(i, session)
            except requests.RequestException:
                status, result = 0, None
            calls[i] = Call(due, sent, time.time(), status, result)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [c for c in calls if c is not None]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def growth(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(median of the last third minus median of the first third, median of the last third),
    by time: a lag that grows through a step shows in the first; one that jitters does not."""
    ordered = [v for _, v in sorted(points)]
    if len(ordered) < 3:
        return 0.0, ordered[-1] if ordered else 0.0
    third = len(ordered) // 3
    late = statistics.median(ordered[-third:])
    return late - statistics.median(ordered[:third]), late


def achieved_rate(calls: Sequence[Call], ok: int = 201) -> float:
    """Successful answers per second between the first and the last answer: a steady latency
    does not lower it, answers falling further and further behind do."""
    done = sorted(c.done for c in calls if c.status == ok)
    if len(done) < 2 or done[-1] == done[0]:
        return 0.0
    return (len(done) - 1) / (done[-1] - done[0])
