"""The search for the highest rate held, for any load kind: it only offers rates to a
`measure` function and reads each step's verdict and absorbed pace (bookings, page reads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Step(Protocol):
    """What the search reads of a measured step."""

    rate: float

    @property
    def capacity(self) -> float:
        """What the pipeline absorbed, per second."""
        ...

    def verdict(self) -> list[str]:
        """Why the rate was not held (empty: held)."""
        ...


S = TypeVar("S", bound=Step)


@dataclass
class Search(Generic[S]):
    """The highest-rate search: its steps, the best rate held, its confirmation runs."""

    steps: list[S] = field(default_factory=list)
    candidate: float | None = None
    confirm: list[S] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        """Held in most confirmation runs."""
        return held_mostly(self.confirm)


def held_mostly(steps: Sequence[Step]) -> bool:
    """Held in most of the runs."""
    return sum(not s.verdict() for s in steps) * 2 > len(steps)


def best_rate(found: Search[S]) -> float | None:
    """The highest rate held and confirmed, else None."""
    return found.candidate if found.candidate and found.confirmed else None


def rounded(rate: float) -> float:
    """Rates of the search: whole numbers, multiples of 5 above 20/s."""
    return float(round(rate / 5) * 5) if rate > 20 else float(max(1, round(rate)))


def search(
    measure: Callable[[float], S],
    start: float,
    base: list[S],
    max_steps: int,
    confirmations: int,
    say: Callable[[str], None] = print,
) -> Search[S]:
    """Up by 1.5x from `start` (where `base` was measured) while held; when not, down to the
    lower of 1/1.5 of it and 90% of what the last step's pipeline absorbed. Then one bisection,
    and `confirmations` runs of the best rate held (`base` confirms `start` when it holds as
    many runs)."""
    out: Search[S] = Search()
    base_held = held_mostly(base)
    rate = start
    factor = 1.5 if base_held else 1 / 1.5
    # The bisection's upper end: the lowest rate not held, or just above what a step that
    # was not held absorbed (an estimate of the pipeline's pace, which the bisection tests).
    failed_at = None if base_held else min(rate, 1.1 * min(s.capacity for s in base))
    held_at = rate if base_held else None
    last = base
    while len(out.steps) < max_steps:
        absorbed = min(s.capacity for s in last)
        rate = rounded(rate * factor if base_held else min(rate * factor, 0.9 * absorbed))
        step = measure(rate)
        last = [step]
        out.steps.append(step)
        if not step.verdict():
            held_at = max(held_at or 0, rate)
            if not base_held:
                break
        else:
            failed_at = min(failed_at or rate, rate, 1.1 * step.capacity)
            if base_held:
                break
        if rate <= 1:
            break
    if held_at and failed_at and len(out.steps) < max_steps:
        middle = rounded((held_at + failed_at) / 2)
        if held_at < middle < failed_at:
            step = measure(middle)
            out.steps.append(step)
            held_at = middle if not step.verdict() else held_at
    out.candidate = held_at
    if held_at == start and len(base) >= confirmations:
        out.confirm = base
    elif held_at:
        say(f"  confirming {held_at:.0f}/s, {confirmations} runs")
        out.confirm = [measure(held_at) for _ in range(confirmations)]
    return out
