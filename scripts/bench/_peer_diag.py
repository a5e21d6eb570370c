"""Where one call goes: single-event appends of several kinds, interleaved, timed one by one."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(calls: dict[str, Callable[[], None]], n: int) -> dict[str, tuple[float, float]]:
    """Each call `n` times, in turn (A B C, A B C, ...): median wall µs, mean client CPU µs."""
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    for _ in range(10):  # untimed: statements prepared, caches warm
        for call in calls.values():
            call()
    for _ in range(n):
        for name, call in calls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            call()
            wall[name].append(time.perf_counter() - t0)
            cpu[name] += time.process_time() - c0
    return {name: (statistics.median(wall[name]) * 1e6, cpu[name] / n * 1e6) for name in calls}


def lines(figures: dict[str, tuple[float, float]], n: int) -> list[str]:
    """The markdown table of interleaved()'s figures."""
    out = [
        f"Median latency of one single-event append ({n} of each, interleaved, one connection"
        " each, on one table per kind), and the client's CPU per call:",
        "",
        "| call | median µs | client CPU µs |",
        "|---|---:|---:|",
    ]
    out += [f"| {name} | {w:,.0f} | {c:,.0f} |" for name, (w, c) in figures.items()]
    return out
