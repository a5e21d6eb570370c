"""The benchmark's CPU accounting: a process's burnt CPU lands in its own group, once."""

from __future__ import annotations

import os
import time

from scripts.bench import _cpu


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_service_pid_is_counted_under_its_name_and_nowhere_else() -> None:
    before = _cpu.snapshot({"booking": os.getpid()})
    _burn(0.3)
    used = _cpu.used(before, _cpu.snapshot({"booking": os.getpid()}))
    assert used["booking"] >= 0.25
    assert used["load generator"] == 0.0  # this pid is the service here, not the generator
    assert set(used) == set(_cpu.GROUPS)


def test_this_process_is_the_load_generator_when_no_service_claims_it() -> None:
    before = _cpu.snapshot({})
    _burn(0.3)
    used = _cpu.used(before, _cpu.snapshot({}))
    assert used["load generator"] >= 0.25
    assert used["booking"] == 0.0
