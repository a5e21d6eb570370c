"""One figure of the summary table, and the JSON file a benchmark script hands to all.py."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Op = Literal[">=", "<="]


@dataclass
class Figure:
    """A measured figure, its baseline and target, as the generated page's summary shows it.

    `runs` holds one value per run of what the target reads (the ratio when `target_on` is
    "ratio", the figure itself otherwise); `value` and `ratio` are medians over those runs.
    """

    key: str
    label: str
    unit: str
    value: float
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: float | None = None
    op: Op = ">="
    target_on: Literal["ratio", "value"] = "ratio"
    runs: list[float] = field(default_factory=list)
    section: str = ""  # the `## ` heading of the section that explains it
    note: str = ""  # when missed: why, and what would close it (from the measured figures)
    profile: dict[str, Any] | None = None  # how to profile it: {"argv": [...], "focus": regex}

    @property
    def met(self) -> bool | None:
        """Whether the target is reached (None when there is no target)."""
        if self.target is None:
            return None
        measured = self.ratio if self.target_on == "ratio" else self.value
        if measured is None:
            return None
        return measured >= self.target if self.op == ">=" else measured <= self.target

    @property
    def shortfall(self) -> float:
        """How far from its target, as a factor >= 1 when missed (1 when met or no target)."""
        measured = self.ratio if self.target_on == "ratio" else self.value
        if self.target is None or measured is None or not measured or self.met:
            return 1.0
        return self.target / measured if self.op == ">=" else measured / self.target


def write_json(path: Path, script: str, figures: list[Figure], info: dict[str, str]) -> None:
    """What all.py reads back: the script's figures and the machine it ran on."""
    body = {"script": script, "info": info, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def read_json(path: Path) -> tuple[list[Figure], dict[str, str]]:
    """The figures and machine info a script wrote."""
    body = json.loads(path.read_text())
    return [Figure(**f) for f in body["figures"]], body.get("info", {})


def merged(runs: list[list[Figure]]) -> list[Figure]:
    """Figures of several runs of one script: medians, every run's value kept, notes of the
    median run (the run whose first figure sits at the median)."""
    if len(runs) == 1:
        return runs[0]
    out = []
    for same in zip(*runs, strict=True):
        keys = {f.key for f in same}
        assert len(keys) == 1, f"runs disagree on their figures: {keys}"
        first = same[0]
        values = [f.value for f in same]
        ratios = [f.ratio for f in same if f.ratio is not None]
        per_run = [f.ratio if first.target_on == "ratio" else f.value for f in same]
        middle = sorted(same, key=lambda f: f.ratio if f.ratio is not None else f.value)
        out.append(
            Figure(
                **{
                    **asdict(first),
                    "value": statistics.median(values),
                    "baseline": _median_or_none([f.baseline for f in same]),
                    "ratio": statistics.median(ratios) if ratios else None,
                    "runs": [x for x in per_run if x is not None],
                    "note": _median_note(middle[len(middle) // 2].note, len(same)),
                }
            )
        )
    return out


def _median_note(note: str, runs: int) -> str:
    """The median run's note, saying so: its figures are that run's, not the medians."""
    return f"In the median run of {runs}: {note}" if note else ""


def _median_or_none(values: list[float | None]) -> float | None:
    """The median of the values given, None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None
