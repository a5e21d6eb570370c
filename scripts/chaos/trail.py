"""A loss's trail: for each event the ledger lacks, where it is named in the services' logs.

A chaos run that loses something fails in CI, where the work directory is gone afterwards; the
summary then carries what a post-mortem needs first (the event, its position, and every log
line that names it), so a loss that happens once in many runs can still be explained.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from services.common.config import SERVICES

MAX_EVENTS = 5
MAX_LINES = 8
_UNLEDGERED_ROWS = (
    "SELECT '{0}', position, event_id::text, event_type, recorded_at FROM {0}.events e"
    " WHERE NOT EXISTS (SELECT 1 FROM audit.ledger l WHERE l.event_id = e.event_id)"
    " ORDER BY position LIMIT %s"
)


def unledgered_events(url: str, limit: int = MAX_EVENTS) -> list[tuple[str, int, str, str, str]]:
    """(service, position, event_id, type, recorded_at) of events the ledger does not hold."""
    rows: list[tuple[str, int, str, str, str]] = []
    with psycopg.connect(url, connect_timeout=10) as conn:
        for service in SERVICES:
            for s, pos, eid, etype, at in conn.execute(
                _UNLEDGERED_ROWS.format(service), (limit,)
            ).fetchall():
                rows.append((s, int(pos), eid, etype, at.isoformat()))
    return rows[:limit]


def log_lines(log_dir: Path, needle: str, limit: int = MAX_LINES) -> list[str]:
    """The first `limit` lines of any log file under `log_dir` that contain `needle`."""
    found: list[str] = []
    for path in sorted(log_dir.rglob("*.log")):
        if not path.is_file():
            continue
        with path.open(errors="replace") as lines:
            for line in lines:
                if needle in line:
                    found.append(f"{path.relative_to(log_dir)}: {line.rstrip()[:300]}")
                    if len(found) >= limit:
                        return found
    return found


def trail(url: str, log_dir: Path) -> list[str]:
    """Lines for the summary: each unledgered event, then the log lines naming it."""
    out: list[str] = []
    for service, position, event_id, event_type, at in unledgered_events(url):
        out.append(f"{service}.events position {position} {event_type} {event_id} at {at}")
        named = log_lines(log_dir, event_id)
        out += [f"    {line}" for line in named] or ["    (no log line names it)"]
    return out
