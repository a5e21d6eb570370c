"""`make test`'s pytest: two shards at once, then the tests that must run alone.

Most of the suite waits on PostgreSQL, RabbitMQ, SMTP or a service process, so one pytest
leaves a core of this 2-core machine idle much of the time. Two pytest sessions, each on its
own databases and vhosts (tests/support/infra.py), fill it. pytest-xdist stalled here: its
workers never reported a test (eventlet's monkey-patching, tests/conftest.py, is the suspect).
Tests marked `serial` change or use up what every test shares (a RabbitMQ restart, most of
PostgreSQL's 100 connections) and run after both shards.

Usage: python scripts/test_shards.py [extra pytest arguments; not -m, which selects the parts].
Exit status: the worst of the three runs (pytest's own codes, 128 + N for a run killed by
signal N; 0 when all passed); 130 when interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
# Balanced by measured duration (the shard logs' slowest-tests list), not by test count.
SHARDS: tuple[tuple[str, ...], ...] = (
    (
        "tests/integration/audit",
        "tests/integration/booking",
        "tests/integration/identity",
        "tests/integration/notification",
        "tests/integration/edge",
        "tests/unit",
        "tests/contract",
    ),
    (
        "tests/chaos",
        "tests/security",
        "tests/e2e",
        "tests/integration/broker",
        "tests/integration/consumer",
        "tests/integration/dlq",
        "tests/integration/eventstore",
        "tests/integration/metrics",
        "tests/integration/relay",
        "tests/integration/replay",
    ),
)
# Where the `serial` tests are (tests/unit/test_shards.py checks): a RabbitMQ restart, and
# tests that need most of PostgreSQL's 100 connections.
SERIAL = ("tests/integration/booking", "tests/integration/eventstore", "tests/integration/relay")


def pytest_command(paths: tuple[str, ...], extra: list[str]) -> list[str]:
    """One pytest session over `paths`."""
    return [sys.executable, "-m", "pytest", *extra, *paths]


def run_shards(extra: list[str]) -> int:
    """Both shards at once, each shown whole once done; then the serial tests."""
    signal.signal(signal.SIGTERM, _interrupted)  # stopped by CI: as Ctrl-C, children included
    started = time.monotonic()
    logs: list[IO[bytes]] = []
    shards: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as files:
        try:
            for index, paths in enumerate(SHARDS):
                logs.append(files.enter_context(tempfile.TemporaryFile()))
                env = {**os.environ, "CARNET_TEST_SHARD": f"{index}/{len(SHARDS)}"}
                # Each its own cache (--lf works per shard) and session: a terminal's Ctrl-C
                # reaches only this process, which hands each shard one interrupt (_stop_all).
                options = ["-m", "not serial", "-o", f"cache_dir=.pytest_cache/shard-{index}"]
                command = pytest_command(paths, [*options, *extra])
                output = {"stdout": logs[-1], "stderr": subprocess.STDOUT}
                shards.append(
                    subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, **output)
                )
            codes = [shard.wait() for shard in shards]
        finally:
            _stop_all(shards)
            for index, log in enumerate(logs):  # shown even when interrupted
                log.seek(0)
                print(f"\n===== shard {index + 1} of {len(SHARDS)}: {' '.join(SHARDS[index])}")
                sys.stdout.flush()
                sys.stdout.buffer.write(log.read())
                sys.stdout.flush()
    print(
        f"\n===== shards done in {time.monotonic() - started:.0f} s; the serial tests", flush=True
    )
    serial = subprocess.Popen(pytest_command(SERIAL, ["-m", "serial", *extra]), cwd=ROOT,
                              start_new_session=True)  # fmt: skip
    try:
        codes.append(serial.wait())
    finally:
        _stop_all([serial])
    return max(status(code) for code in codes)


def status(code: int) -> int:
    """A child's exit status as a shell reports it: 128 + N when signal N killed it."""
    return 128 - code if code < 0 else code


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Children still running (we were interrupted) get pytest's own interrupt first, so their
    teardown drops their databases and vhosts (and restarts a stopped RabbitMQ); then SIGTERM,
    then SIGKILL."""
    alive = [p for p in processes if p.poll() is None]
    for sig, grace in ((signal.SIGINT, 60.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if not alive:
            return
        for process in alive:
            process.send_signal(sig)
        deadline = time.monotonic() + grace
        for process in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        alive = [p for p in alive if p.poll() is None]


if __name__ == "__main__":
    try:
        sys.exit(run_shards(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
