"""The end-to-end bench's read steps: a page rate is held as a booking rate is, and only when
audit ledgered and indexed every page's access record; the report states rate and CPU."""

from __future__ import annotations

from scripts.bench._e2e_held import held_reasons, pace
from scripts.bench._e2e_reads import ReadPhase, ReadStep
from scripts.bench._e2e_reads_report import read_figures, read_section
from scripts.bench._e2e_search import Search
from scripts.bench._load import Call
from scripts.bench._system import Lags

SIZES = {"read_steps": 5, "step_s": 30}


def _step(rate: float = 10, n: int = 100, ledgered: int = 100, indexed: int = 100,
          status: int = 200, served: int = 10) -> ReadStep:  # fmt: skip
    """n pages due at `rate`, answered in 20 ms; the first `ledgered` / `indexed` in audit."""
    calls = [Call(i / rate, i / rate, i / rate + 0.02, status, f"a{i}") for i in range(n)]
    lags = [Lags(float(t), 0, 0.01, 0.02, 0) for t in range(int(n / rate))]
    step = ReadStep(rate, n / rate, served, calls, lags, drain_s=1.5)
    step.ledger = {f"a{i}": (i / rate + 0.01, i / rate + 0.05) for i in range(ledgered)}
    step.indexed = {f"a{i}": served for i in range(indexed)}
    step.cpu = {"booking": 0.5, "audit": 0.3, "PostgreSQL": 0.2}
    return step


def test_a_step_whose_records_audit_holds_is_held() -> None:
    step = _step()
    assert step.verdict() == []
    assert step.achieved == 10.0 and step.served() == 10
    assert round(step.to_ledger_ms(99)) == 40
    assert step.cpu_ms_per_read() == 10.0 and step.cpu_ms_per_read("audit") == 3.0


def test_records_missing_from_the_ledger_or_the_index_are_named() -> None:
    assert _step(ledgered=97, indexed=97).verdict() == [
        "3 access records not ledgered 2 s after",
        "3 access records not indexed 2 s after",
    ]
    assert _step(indexed=99).verdict() == ["1 access records not indexed 2 s after"]


def test_refused_pages_fail_the_step() -> None:
    why = _step(status=429).verdict()
    assert why[0] == "100 of 100 pages failed" and "0/s answered of 10/s offered" in why


def test_a_growing_latency_is_named_for_any_load_kind() -> None:
    points = [(float(t), 0.1 if t < 10 else 4.0) for t in range(30)]
    why = held_reasons("pages", 30, 0, 10, 10, {"page latency": points}, {}, 1.0)
    assert why == ["page latency grew 3.9 s over the step, to 4.0 s"]


def test_the_pace_is_the_ledgers_when_it_falls_behind() -> None:
    assert pace(100.0, [0.0, 1.0, 2.0]) == 1.0
    assert pace(0.5, [0.0, 1.0, 2.0]) == 0.5
    assert pace(7.0, []) == 7.0


def _phase(count: int, held: bool) -> ReadPhase:
    base = [_step(served=count)] if held else [_step(served=count, ledgered=0)]
    found: Search[ReadStep] = Search()
    if held:
        found.steps = [_step(rate=15, served=count, indexed=0)]
        found.candidate, found.confirm = 10, base
    return ReadPhase(count, 10, base, found)


def test_figures_give_the_rate_held_and_cpu_per_page_for_each_page_size() -> None:
    figures = {f.key: f for f in read_figures([_phase(10, True), _phase(100, False)])}
    assert figures["e2e.read_max_rate_10"].value == 10
    assert figures["e2e.cpu_per_read_10"].value == 10.0
    assert "e2e.read_max_rate_100" not in figures  # nothing held: no rate claimed
    assert "at 10/s" in figures["e2e.cpu_per_read_100"].label


def test_the_section_says_which_check_failed_and_how_it_was_measured() -> None:
    text = "\n".join(read_section([_phase(10, True), _phase(100, False)], SIZES, 1))
    assert "**Pages of 10: highest rate held 10 pages/s** (about 100 appointments/s" in text
    assert "100 access records not indexed" in text  # the search's step at 15/s
    assert "Pages of 100: no rate tried was held." in text
    assert "10,000,000 appointments an hour" in text and "/trust" in text
    assert read_section([], SIZES, 1)[2] == "Not run (`--no-reads`)."


def test_a_search_that_never_failed_says_the_ceiling_is_higher() -> None:
    phase = _phase(10, True)
    phase.found.steps = [_step(rate=15)]
    text = "\n".join(read_section([phase], SIZES, 1))
    assert "No rate tried failed" in text
