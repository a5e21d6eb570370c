"""The image installs deploy/requirements.lock: every package pinned with its hashes, and
every dependency pyproject.toml pins at the same version (issue #23: 73 installed packages
against 30 pins; `make lock` writes it)."""

from __future__ import annotations

import re
import tomllib
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", re.M)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    return {norm(n): v for n, v in ENTRY.findall((ROOT / "deploy/requirements.lock").read_text())}


def test_every_pin_of_pyproject_is_locked_at_its_version_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = locked()
    for requirement in project["dependencies"]:
        name, _, version = re.sub(r"\[.*?\]", "", requirement).partition("==")
        assert lock.get(norm(name)) == version.strip(), requirement
    text = (ROOT / "deploy/requirements.lock").read_text()
    starts = [m.start() for m in ENTRY.finditer(text)] + [len(text)]
    blocks = [text[a:b] for a, b in pairwise(starts)]
    assert len(blocks) == len(lock) and all("--hash=sha256:" in b for b in blocks)
    assert "file://" not in text and "--find-links" not in text  # nothing of this machine


def test_the_image_installs_the_lock_and_nothing_it_resolves():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    assert "--no-index" in dockerfile and "--upgrade pip" not in dockerfile
