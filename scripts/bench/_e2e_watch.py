"""What every load step measures around its load, whatever it offers: the pipeline's lags each
second, the oldest writing transaction every 50 ms, the drain after it, CPU by process group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from scripts.bench import _cpu
from scripts.bench._load import Call
from scripts.bench._system import Lags, System, connect, sample_lags


@dataclass
class Watched:
    """One step's load and what was sampled around it."""

    main: list[Call]  # the measured load's calls
    side: list[Call] = field(default_factory=list)  # a background load's (the reader's)
    lags: list[Lags] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)  # oldest writing transaction's age, s
    drain_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s per group, step and drain


def drain(system: System, timeout: float) -> float:
    """Wait until no message waits in any queue and no relay lags (twice in a row): seconds."""
    start, calm = time.monotonic(), 0
    while time.monotonic() - start < timeout:
        try:
            lags = sample_lags(system)
            calm = calm + 1 if lags.queued == 0 and lags.relay_events == 0 else 0
        except requests.RequestException:
            calm = 0
        if calm >= 2:
            break
        time.sleep(0.5)
    return time.monotonic() - start


# Transactions holding an xid (they wrote), the sampler's own excluded (it writes nothing).
_OLDEST_XACT = """
SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)
  FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
"""


def xact_sampler(database_url: str, into: list[float], stop: threading.Event,
                 every: float = 0.05) -> None:  # fmt: skip
    """The oldest writing transaction's age every 50 ms until stopped."""
    with connect(database_url) as conn:
        while not stop.wait(every):
            into.append(float(conn.execute(_OLDEST_XACT).fetchone()[0]))


def sampler(system: System, into: list[Lags], stop: threading.Event, every: float = 1.0) -> None:
    """Sample the lags every second until stopped (a failed scrape is skipped)."""
    while not stop.wait(every):
        try:
            into.append(sample_lags(system))
        except requests.RequestException:
            continue


def watched(
    system: System,
    main: Callable[[], list[Call]],
    side: Callable[[threading.Event], list[Call]] | None = None,
    settle: Callable[[float], float] | None = None,
    drain_timeout: float = 180.0,
) -> Watched:
    """Run `main` (and `side` until `main` ends) while sampling; drain, then `settle(time
    left)` (waits for what the drain cannot see, e.g. the access index); CPU over all of it."""
    cpu_before = _cpu.snapshot(system.pids)
    out = Watched([])
    stop = threading.Event()
    threads = [
        threading.Thread(target=sampler, args=(system, out.lags, stop), daemon=True),
        threading.Thread(target=xact_sampler, args=(system.env.database_url, out.ages, stop),
                         daemon=True),
    ]  # fmt: skip
    if side is not None:
        threads.append(threading.Thread(target=lambda: out.side.extend(side(stop)), daemon=True))
    for t in threads:
        t.start()
    try:
        out.main = main()
    finally:
        stop.set()
        for t in threads:
            t.join()
    out.drain_s = drain(system, drain_timeout)
    if settle is not None:
        out.drain_s += settle(max(0.0, drain_timeout - out.drain_s))
    out.cpu = _cpu.used(cpu_before, _cpu.snapshot(system.pids))
    return out
