"""A synthetic audit ledger for tests: entries appended directly, tampered with, verified."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg

from contracts.registry import REGISTRY
from services.audit import ledger, sequencer
from services.audit.signing import Signer
from services.audit.verify import VerifyReport, verify_database

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)


class Signed(Protocol):
    """A database with a ledger, and the key its heads are signed with (audit's World)."""

    database_url: str
    signer: Signer


class Ledger:
    """Ledgers synthetic events through the sequencer, staged then chained, as the consumer does."""

    def __init__(self, pool: Any) -> None:
        self.pool, self._position, self._versions = pool, itertools.count(1), {}
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
        self._versions[stream] = self._versions.get(stream, 0) + 1
        event = ledger.IncomingEvent(
            event_id=uuid.uuid4(),
            source_service=source,
            source_position=next(self._position),
            stream_id=stream,
            stream_version=self._versions[stream],
            event_type=event_type,
            schema_version=version,
            payload=payload,
            metadata={"correlation_id": f"corr-{uuid.uuid4().hex[:8]}"},
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
