"""What the audit entrypoints do: ingest into the ledger, checkpoint, verify (tail, on request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.audit import ledger, sequencer, tail_verify
from services.audit.checkpoint import Checkpoint, LedgerCorrupt, checkpoint
from services.audit.settings import AuditSettings
from services.audit.signing import Signer, verification_keys
from services.audit.verify import VerifyReport, verify_database
from services.common.consumed import ConsumedEvent
from services.common.eventstore.store import EventStore
from services.common.logging import get_logger

log = get_logger(__name__)


def record(pool: Any, events: list[ConsumedEvent]) -> list[int | None]:
    """Ledger each event once; a redelivery or a second replica's copy adds nothing."""
    seqs = sequencer.ingest_all(pool, [ledger.from_consumed(e) for e in events])
    for event, seq in zip(events, seqs, strict=True):
        ids = {"event_id": str(event.event_id), "correlation_id": event.correlation_id}
        if seq is None:
            log.info("ledger.duplicate_ignored", source=event.producer, **ids)
        else:
            log.info(
                "ledger.appended",
                seq=seq,
                source=event.producer,
                event_type=event.event_type,
                **ids,
            )
    return seqs


def checkpoint_now(pool: Any, store: EventStore, signer: Signer) -> Checkpoint | None:
    """Sign a new tree head if there are new entries; a broken chain is reported, not signed."""
    try:
        return checkpoint(pool, store, signer)
    except LedgerCorrupt as exc:
        log.error("ledger.checkpoint_refused", reason=str(exc))
        return None


def verify_report(config: Mapping[str, Any], signer: Signer | None) -> VerifyReport:
    """The full verify, as the HTTP endpoint serves it (read access to every schema needed)."""
    settings = AuditSettings.from_config(config)
    report = verify_database(
        settings.verify_database_url,
        verification_keys(config, signer),
        grace_seconds=settings.verify_grace_seconds,
    )
    log.info(
        "ledger.verified",
        ok=report.ok,
        ledger_size=report.ledger_size,
        first_bad_seq=report.first_bad_seq,
        findings=len(report.findings),
    )
    tail_verify.record("full", report.ok)
    return report


def verify_tail_now(
    pool: Any, config: Mapping[str, Any], signer: Signer | None
) -> tail_verify.TailReport | None:
    """The periodic tail check; its outcome goes to the metrics, a failure to an error line."""
    try:
        report = tail_verify.run(pool, verification_keys(config, signer))
    except Exception as exc:  # the database is away: no verdict (the timestamp goes stale)
        log.warning("ledger.tail_verify_unavailable", error=type(exc).__name__)
        return None
    tail_verify.record("tail", report.ok)
    if not report.ok:
        log.error(
            "ledger.tail_verify_failed",
            first_bad_seq=report.first_bad_seq,
            kinds=sorted({f.kind for f in report.findings}),
            findings=len(report.findings),
            checkpoint_size=report.checkpoint_size,
            ledger_size=report.ledger_size,
        )
    return report
