"""Two `carnet run` audit processes consuming at once still build one gap-free chain."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from services.audit.verify import VerifyReport
from tests.integration.audit.world import KEY_ID, World
from tests.support.amqp import consumer_count
from tests.support.ledger import verify
from tests.support.poll import eventually
from tests.support.processes import run_service, stop_processes

HANDLERS = ("ledger_identity", "ledger_booking", "ledger_notification", "ledger_audit")


def start_audit(world: World, log: Path) -> subprocess.Popen:
    env = {
        "DATABASE_URL": world.database_url,
        "AMQP_URI": world.amqp_uri,
        "AUDIT_SIGNING_KEY": world.seed,
        "AUDIT_SIGNING_KEY_ID": KEY_ID,
        "LEDGER_CHECKPOINT_SECONDS": "1",
        "MAX_WORKERS": "10",
    }
    return run_service("audit", env, log)


def source_ids(url: str) -> set:
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for s in ("identity", "booking", "notification", "audit")
            for r in conn.execute(f"SELECT event_id FROM {s}.events")
        }


@pytest.fixture
def replica_world(fresh_migrated_database_url, fresh_broker):
    w = World(fresh_migrated_database_url, fresh_broker)
    yield w
    w.close()


def test_two_audit_processes_ledger_each_event_once_in_one_chain(replica_world, tmp_path):
    world = replica_world
    logs = [tmp_path / "audit-1.log", tmp_path / "audit-2.log"]
    procs = [start_audit(world, log) for log in logs]
    try:
        queues = [f"carnet.q.audit.{handler}" for handler in HANDLERS]
        eventually(  # both processes consuming before the burst
            lambda: all(consumer_count(world.amqp_uri, q) == 2 for q in queues),
            60,
            "two consumers on every audit queue",
            interval=0.2,
        )
        world.start_relays(("identity", "booking", "notification"))
        emitted = world.emit_many(300)
        url = world.database_url

        def caught_up() -> VerifyReport | None:
            with psycopg.connect(url) as conn:
                ledgered = {r[0] for r in conn.execute("SELECT event_id FROM audit.ledger")}
            if {e.event_id for e in emitted} <= ledgered and source_ids(url) == ledgered:
                report = verify(world)
                return report if report.ok else None
            return None

        report = eventually(caught_up, 120, "the ledger to catch up and verify", interval=0.5)
    finally:
        stop_processes(procs, grace=30)
    with psycopg.connect(url) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit.ledger ORDER BY seq")]
        ids = conn.execute("SELECT count(DISTINCT event_id) FROM audit.ledger").fetchone()[0]
    assert seqs == list(range(1, len(seqs) + 1)) and ids == len(seqs) >= 300
    assert report.checkpoints_checked >= 1 and report.first_bad_seq is None
    appended = [log.read_text().count('"ledger.appended"') for log in logs]
    assert all(n > 0 for n in appended), appended  # both replicas did sequence rows
    print(
        f"ledger {len(seqs)} entries; appended per replica {appended}; "
        f"checkpoints {report.checkpoints_checked}"
    )
