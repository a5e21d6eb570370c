"""make test runs the suite as two shards and a serial part: no test directory may fall out."""

from __future__ import annotations

from pathlib import Path

from scripts.test_shards import ROOT, SERIAL, SHARDS
from tests.support.ports import own_share


def test_every_test_directory_is_in_exactly_one_shard():
    listed = [p for shard in SHARDS for p in shard]
    assert len(listed) == len(set(listed))
    having_tests = {
        path.parent.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py")
    }
    covered = {d for d in having_tests if any(d == p or d.startswith(p + "/") for p in listed)}
    assert covered == having_tests, sorted(having_tests - covered)
    assert all((ROOT / p).is_dir() for p in listed)


def test_shards_take_disjoint_ports(monkeypatch):
    pool = list(range(10_000, 10_100))
    shares = []
    for index in range(2):
        monkeypatch.setenv("CARNET_TEST_SHARD", f"{index}/2")
        shares.append(set(own_share(pool)))
    assert not shares[0] & shares[1] and shares[0] | shares[1] == set(pool)
    monkeypatch.delenv("CARNET_TEST_SHARD")
    assert own_share(pool) == pool


def test_the_makefile_runs_the_shards():
    assert "scripts/test_shards.py" in Path(ROOT / "Makefile").read_text()


def test_every_serial_test_is_where_the_serial_run_looks():
    marked = {
        path.parent.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if "mark.serial" in path.read_text() and path != Path(__file__)
    }
    assert marked and marked <= set(SERIAL)
