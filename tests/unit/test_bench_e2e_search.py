"""The end-to-end bench's rate search, on a fake pipeline: whatever the load kind, it finds the
highest rate held, bisects once, and confirms it."""

from __future__ import annotations

from dataclasses import dataclass

from scripts.bench._e2e_search import Search, best_rate, held_mostly, rounded, search


@dataclass
class FakeStep:
    """A step of a pipeline that absorbs `limit` per second and holds any rate up to it."""

    rate: float
    limit: float

    @property
    def capacity(self) -> float:
        return min(self.rate, self.limit)

    def verdict(self) -> list[str]:
        return [] if self.rate <= self.limit else [f"{self.limit:.0f}/s answered"]


def _run(limit: float, start: float, runs: int = 3, max_steps: int = 7) -> tuple[Search, list]:
    offered: list[float] = []

    def measure(rate: float) -> FakeStep:
        offered.append(rate)
        return FakeStep(rate, limit)

    base = [FakeStep(start, limit) for _ in range(runs)]
    return search(measure, start, base, max_steps, runs, lambda _text: None), offered


def test_a_held_start_goes_up_until_not_held_then_bisects_and_confirms() -> None:
    found, offered = _run(limit=180, start=100)
    assert offered[:2] == [150, 225]  # up by 1.5x until a step is not held
    assert offered[2] == 175  # the bisection: between 150 held and 198 (1.1 x absorbed)
    assert found.candidate == 175 and offered[3:] == [175, 175, 175]
    assert best_rate(found) == 175


def test_a_start_not_held_steps_down_to_what_the_pipeline_absorbed() -> None:
    found, offered = _run(limit=40, start=100)
    assert offered[:2] == [35, 40]  # 90% of the 40/s absorbed, then halfway to 44 (1.1 x)
    assert found.candidate == 40 and found.confirmed


def test_the_start_held_and_the_next_step_not_reuses_the_base_runs_as_confirmation() -> None:
    found, offered = _run(limit=110, start=100, max_steps=1)
    assert offered == [150] and found.candidate == 100
    assert len(found.confirm) == 3 and found.confirmed


def test_a_single_base_step_is_confirmed_by_as_many_runs_as_asked() -> None:
    def measure(rate: float) -> FakeStep:
        return FakeStep(rate, 110)

    found = search(measure, 100, [FakeStep(100, 110)], 1, 3, lambda _text: None)
    assert found.candidate == 100 and len(found.confirm) == 3


def test_nothing_held_reports_no_rate() -> None:
    found, _ = _run(limit=0.5, start=10, max_steps=3)
    assert found.candidate is None and best_rate(found) is None


def test_rates_are_whole_and_multiples_of_five_above_twenty() -> None:
    assert rounded(0.2) == 1 and rounded(13.4) == 13 and rounded(151) == 150
    assert held_mostly([FakeStep(1, 2), FakeStep(1, 2), FakeStep(3, 2)])
    assert not held_mostly([FakeStep(1, 2), FakeStep(3, 2)])
