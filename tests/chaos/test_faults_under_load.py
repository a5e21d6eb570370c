"""Faults under load, short form (issue #10): `make chaos`'s runner with 300 operations.

The runner is its own process (its clients are plain threads, not eventlet's) on a private
PostgreSQL cluster and RabbitMQ node, so crashing them touches nothing else running here. It
SIGKILLs each service, crashes RabbitMQ and PostgreSQL while four clients book, reschedule,
cancel and read; then it reconciles, and with --self-check sabotages its private stores to
show that each kind of check does notice a loss or a duplicate; with --tamper-check it plays the
ledger's tamper table on copies of its database.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from scripts.chaos.report import SUMMARY_PREFIX
from scripts.chaos.subscriptions import LEDGER_METHODS, SUBSCRIPTIONS, UNCHECKED
from services.cli.supervisor import ROOT
from services.common.config import SERVICES
from services.common.nameko_ext.consumer import ALL_EVENTS, EventConsumer

OPERATIONS = 300


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_faults_under_load_lose_nothing_and_do_nothing_twice():
    run = subprocess.run(
        [sys.executable, "-m", "scripts.chaos", "--operations", str(OPERATIONS), "--rounds", "1",
         "--self-check", "--tamper-check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=560,
    )  # fmt: skip
    output = run.stdout + run.stderr
    lines = [x for x in run.stdout.splitlines() if x.startswith(SUMMARY_PREFIX)]
    assert lines, output[-4000:]
    summary = json.loads(lines[-1][len(SUMMARY_PREFIX) :])
    # A loss names its events and their log lines (scripts/chaos/trail.py) before the tail.
    trail = "\n".join(x for x in run.stdout.splitlines() if x.startswith("  unledgered: "))
    assert summary["operations"] == OPERATIONS
    assert summary["faults"] == 6 and not summary["not_recovered"]
    assert summary["lost"] == 0, trail + "\n" + output[-4000:]
    assert summary["duplicates"] == 0, output[-4000:]
    assert summary["verify_ok"], trail + "\n" + output[-4000:]
    assert summary["anomalies"] == 0 and summary["unresolved"] == 0, output[-4000:]
    assert summary["unplanned_exits"] == []
    # The run did real work: commands acknowledged, reads recorded, events everywhere.
    assert summary["acknowledged"] > OPERATIONS // 2
    assert summary["reads_recorded"] > 0 and summary["events"] > OPERATIONS
    # And its checks can fail: every sabotage of the stores was noticed.
    assert len(summary["self_check"]) == 8 and all(summary["self_check"].values()), summary
    # And docs/audit.md's tamper table holds on its ledger (#20): each case named by verify.
    assert len(summary["tamper"]) == 8 and all(summary["tamper"].values()), summary["tamper"]
    # And the deployed broker settings hold: one byte over the 1 MiB cap is refused (#18).
    assert summary["broker_cap"] is True
    # And a suspension reaches booking within a second after all of it (#24).
    assert summary["suspension_ok"] is True, summary["suspension_s"]
    assert run.returncode == 0, output[-4000:]


def _declared_consumers() -> dict[tuple[str, str], EventConsumer]:
    """(service, method) -> its @consume_event, read off the service classes themselves."""
    import importlib

    found = {}
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.service")
        cls = getattr(module, f"{service.capitalize()}Service")
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            for entrypoint in getattr(fn, "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventConsumer):
                    found[(service, name)] = entrypoint
    return found


def test_the_reconciliation_covers_every_consumer_the_services_declare():
    declared = _declared_consumers()
    table = {(s.service, m): s for s in SUBSCRIPTIONS for m in s.methods}
    ledger = {("audit", m) for m in LEDGER_METHODS}
    assert set(declared) == set(table) | ledger | set(UNCHECKED)
    for subscription in SUBSCRIPTIONS:
        consumers = [declared[(subscription.service, m)] for m in subscription.methods]
        assert {c.source for c in consumers} == {subscription.source}, subscription
        assert {t for c in consumers for t in c.event_types} == set(subscription.types)
    assert {declared[k].source for k in ledger} == set(SERVICES)
    assert all(declared[k].event_types == [ALL_EVENTS] for k in ledger)
