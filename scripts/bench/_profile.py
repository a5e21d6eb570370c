"""py-spy profiles of a benchmark workload, summarised as text: where the samples fall."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = 200  # samples per second and process
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str:
    """The py-spy executable of this environment (installed by the bench extras)."""
    found = PY_SPY if PY_SPY.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    return str(found)


def record_command(argv: list[str], out: Path, log: Path, timeout: float) -> None:
    """Run `python argv` under py-spy (its child processes too), raw stacks into `out`."""
    cmd = [py_spy(), "record", "--format", "raw", "--rate", str(RATE), "--subprocesses",
           "--nonblocking", "-o", str(out), "--", sys.executable, *argv]  # fmt: skip
    with open(log, "ab") as sink:
        subprocess.run(
            cmd, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout, check=True
        )


def record_pids(pids: dict[str, int], seconds: float, out_dir: Path) -> dict[str, Path]:
    """Sample running processes (by pid, ours) for `seconds`, one raw file per name."""
    procs, outs = [], {}
    for name, pid in pids.items():
        outs[name] = out_dir / f"profile-{name}.txt"
        cmd = [py_spy(), "record", "--format", "raw", "--rate", str(RATE), "--nonblocking",
               "--pid", str(pid), "--duration", str(int(seconds)),
               "-o", str(outs[name])]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait(timeout=seconds + 60)
    return {name: path for name, path in outs.items() if path.exists()}


def _short(frame: str) -> str:
    """`func (file:line)` without the line, and the file relative to the repo or site-packages."""
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for root in (str(REPO) + "/", "site-packages/", "lib/python3.11/"):
        if root in path:
            path = path.split(root, 1)[1]
    return f"{m['func']} ({path})"


@dataclass
class Summary:
    """Samples of the stacks that went through the focus frame, cut at it."""

    total: int = 0
    focused: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)


def summarise(paths: list[Path], focus: str | None) -> Summary:
    """Count leaf and inclusive samples per function in the stacks through `focus`."""
    pattern = re.compile(focus) if focus else None
    out = Summary()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            out.total += count
            if pattern is not None:
                hits = [i for i, f in enumerate(frames) if pattern.search(f)]
                if not hits:
                    continue
                frames = frames[hits[0] :]
            out.focused += count
            if frames:
                out.own[_short(frames[-1])] += count
            for name in {_short(f) for f in frames}:
                out.inclusive[name] += count
    return out


def render(summary: Summary, focus: str | None, what: str, top: int = 12) -> list[str]:
    """Markdown: how many samples, then the top frames by own and by inclusive samples."""
    if not summary.focused:
        return [f"No sample of {what} was recorded ({summary.total} samples in all)."]
    scope = (
        f"{summary.focused:,} of {summary.total:,} samples went through `{focus}`"
        if focus
        else f"{summary.focused:,} samples"
    )
    lines = [
        f"py-spy, {RATE} samples/s per process, {what}: {scope}; shares below are of those.",
        "",
    ]
    tables = (
        ("own time (leaf frame)", summary.own),
        ("with callees (frame anywhere on the stack)", summary.inclusive),
    )
    for title, counter in tables:
        lines += [f"| top frames, {title} | share |", "|---|---:|"]
        for name, n in counter.most_common(top):
            lines.append(f"| `{name}` | {n / summary.focused:.0%} |")
        lines.append("")
    return lines
