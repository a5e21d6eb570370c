"""A synthetic audit ledger for tests: events recorded by their producer's store, ledgered
through the sequencer, tampered with, verified."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg

from contracts.registry import REGISTRY
from services.audit import ledger, sequencer
from services.audit.signing import Signer
from services.audit.verify import VerifyReport, verify_database
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)


class Signed(Protocol):
    """A database with a ledger, and the key its heads are signed with (audit's World)."""

    database_url: str
    signer: Signer


class Ledger:
    """Records synthetic events in their producer's store, then ledgers them through the
    sequencer, staged then chained, as the consumer does (the ledger takes nothing else)."""

    def __init__(self, pool: Any) -> None:
        self.pool, self._versions = pool, {}
        self.records: list[tuple[int, int, dict[str, Any], datetime | None]] = []

    def put(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        version: int | None = None,
        stream: str | None = None,
        at: datetime | None = None,
        source: str = "booking",
    ) -> int:
        version = version or REGISTRY.latest_version(event_type)
        REGISTRY.validate_for_publish(event_type, payload, version)
        stream = stream or f"test-{uuid.uuid4()}"
        at = at or datetime.now(UTC)
        metadata = {
            "correlation_id": f"corr-{uuid.uuid4().hex[:8]}",
            "occurred_at": at.isoformat(),  # the envelope's time, as booking sets it
        }
        stored = NewEvent(uuid.uuid4(), event_type, version, payload, metadata)
        recorded = EventStore(self.pool, source).append(
            stream, [stored], self._versions.get(stream, 0)
        )
        self._versions[stream] = recorded.stream_version
        event = ledger.IncomingEvent(
            event_id=stored.event_id,
            source_service=source,
            source_position=recorded.positions[0],
            stream_id=stream,
            stream_version=recorded.stream_version,
            event_type=event_type,
            schema_version=version,
            payload=payload,
            metadata={"correlation_id": metadata["correlation_id"]},
            occurred_at=at,
        )
        seq = sequencer.ingest(self.pool, event)
        assert seq is not None
        if event_type == "AppointmentsAccessed":
            self.records.append((seq, version, payload, at))
        return seq


def tamper(world: Signed, *statements: tuple[str, Any]) -> None:
    """Bypass the append-only triggers (superuser only) for these statements."""
    with psycopg.connect(world.database_url) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for statement, params in statements:
            conn.execute(statement, params)


def verify(world: Signed, grace_seconds: float = 0.0) -> VerifyReport:
    """Verify with the world's public key, every source event required (no grace)."""
    keys = {world.signer.key_id: world.signer.public_key()}
    return verify_database(world.database_url, keys, grace_seconds=grace_seconds)
