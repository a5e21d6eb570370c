"""Every benchmark and chaos module imports: they run only under `make bench`/`make chaos`,
so a renamed helper they use would otherwise break them unnoticed (it did once, #21)."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The bench extras (pyproject.toml) are installed by `make bench`, not by `make test`.
BENCH_EXTRAS = {
    re.split(r"[\[=<>~ ]", requirement, maxsplit=1)[0].replace("-", "_")
    for requirement in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["bench"]
}
MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts)
    for folder in ("scripts/bench", "scripts/chaos")
    for path in (REPO / folder).glob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] in BENCH_EXTRAS:
            pytest.skip(f"needs the bench extras ({missing.name})")
        raise


def test_the_modules_are_found() -> None:
    assert "scripts.bench.e2e_load" in MODULES and "scripts.chaos.infra" in MODULES
    assert "eventsourcing" in BENCH_EXTRAS
