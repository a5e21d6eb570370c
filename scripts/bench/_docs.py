"""Replace one `## ` section of docs/benchmarks.md with a run's figures, or append it."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section starting at `heading` (up to the next `## `), or append it."""
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def write_page_keeping_others(path: Path, page: str) -> None:
    """Write a whole page's own `## ` sections, keeping the sections other scripts wrote there.

    `make bench-store` renders a page of its own; the booking, audit and rebuild benchmarks
    add sections to the same file, which a plain overwrite would lose.
    """
    ours = set(re.findall(r"^## .*$", page, re.M))
    kept = []
    if path.exists():
        for section in re.split(r"(?m)^(?=## )", path.read_text()):
            heading = section.splitlines()[0] if section.startswith("## ") else None
            if heading is not None and heading not in ours:
                kept.append(section.rstrip("\n"))
    path.write_text("\n\n".join([page.rstrip("\n"), *kept]).rstrip("\n") + "\n")
