"""`make test`'s pytest: two shards at once, then the tests that must run alone.

Most of the suite waits on PostgreSQL, RabbitMQ, SMTP or a service process, so one pytest
leaves a core of this 2-core machine idle much of the time. Two pytest sessions, each on its
own databases and vhosts (tests/support/infra.py), fill it. pytest-xdist stalled here: its
workers never reported a test (eventlet's monkey-patching, tests/conftest.py, is the suspect).
Tests marked `serial` change what every test shares (a RabbitMQ restart) and run after both
shards.

Usage: python scripts/test_shards.py [extra pytest arguments]. Exit status: the worst of the
three runs (pytest's own codes; 0 when all passed).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Balanced by measured duration (the shard logs' slowest-tests list), not by test count.
SHARDS: tuple[tuple[str, ...], ...] = (
    (
        "tests/integration/audit",
        "tests/integration/booking",
        "tests/integration/identity",
        "tests/integration/notification",
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
        "tests/integration/edge",
        "tests/integration/eventstore",
        "tests/integration/metrics",
        "tests/integration/relay",
        "tests/integration/replay",
    ),
)
SERIAL = ("tests/integration/relay",)  # where the `serial` tests are (test_shards.py checks)


def pytest_command(paths: tuple[str, ...], extra: list[str]) -> list[str]:
    """One pytest session over `paths`."""
    return [sys.executable, "-m", "pytest", *extra, *paths]


def run_shards(extra: list[str]) -> int:
    """Both shards at once, each shown whole once done; then the serial tests."""
    started = time.monotonic()
    codes = []
    with contextlib.ExitStack() as stack:
        runs = []
        for index, paths in enumerate(SHARDS):
            log = stack.enter_context(tempfile.TemporaryFile())
            env = {**os.environ, "CARNET_TEST_SHARD": f"{index}/{len(SHARDS)}"}
            command = pytest_command(paths, ["-m", "not serial", *extra])
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            stack.callback(_stop, process)  # interrupted: no shard is left running
            runs.append((index, log, process))
        for index, log, process in runs:
            codes.append(process.wait())
            log.seek(0)
            print(f"\n===== shard {index + 1} of {len(SHARDS)}: {' '.join(SHARDS[index])}")
            sys.stdout.flush()
            sys.stdout.buffer.write(log.read())
            sys.stdout.flush()
    print(
        f"\n===== shards done in {time.monotonic() - started:.0f} s; the serial tests", flush=True
    )
    serial = pytest_command(SERIAL, ["-m", "serial", *extra])
    codes.append(subprocess.run(serial, cwd=ROOT).returncode)
    return max(codes)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    sys.exit(run_shards(sys.argv[1:]))
