"""Every benchmark and chaos module imports: they run only under `make bench`/`make chaos`,
so a renamed helper they use would otherwise break them unnoticed (it did once, #21)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts)
    for folder in ("scripts/bench", "scripts/chaos")
    for path in (REPO / folder).glob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports(module: str) -> None:
    importlib.import_module(module)


def test_the_modules_are_found() -> None:
    assert "scripts.bench.e2e_load" in MODULES and "scripts.chaos.infra" in MODULES
