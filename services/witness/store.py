"""The witness's own database: its migration, its accepted heads and its refusals.

Never the ledger's database (ADR 0015): whoever controls that one must not be able to reach
these rows. Both tables are append-only by trigger; the witness runs as `carnet_witness`,
which may only SELECT and INSERT.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from yoyo import get_backend, read_migrations

from services.audit.heads import Cosignature, SignedHead
from services.common.eventstore.migrate import ensure_database
from services.witness.check import Refusal

SCHEMA = "witness"
ROLE = "carnet_witness"
_HEAD_COLUMNS = (
    "checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id, signature,"
    " witness_key_id, witnessed_at, cosignature"
)
_INSERT_HEAD = (
    f"INSERT INTO witness.heads ({_HEAD_COLUMNS}, ledger_recorded_at)"
    f" VALUES ({', '.join(['%s'] * 11)})"
)
_INSERT_REFUSAL = """
INSERT INTO witness.refusals (checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id,
                              signature, kind, detail, witnessed_size, ledger_recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_SEEN = """
SELECT checkpoint_id FROM witness.heads WHERE checkpoint_id = ANY(%(ids)s)
UNION ALL
SELECT checkpoint_id FROM witness.refusals WHERE checkpoint_id = ANY(%(ids)s)
"""


def migrations_dir() -> Path:
    """deploy/witness of this checkout or image."""
    return Path(__file__).resolve().parents[2] / "deploy" / "witness"


def migrate(database_url: str) -> bool:
    """Create the witness's database if missing and apply deploy/witness; True if created."""
    created = ensure_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")  # yoyo keeps its books there
    parts = urlsplit(database_url)
    query = {**dict(parse_qsl(parts.query)), "schema": SCHEMA, "application_name": "witness"}
    uri = urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))
    backend = get_backend(uri)
    try:
        with backend.lock(timeout=120):
            backend.apply_migrations(backend.to_apply(read_migrations(str(migrations_dir()))))
    finally:
        backend.connection.close()
    return created


def _head(row: tuple[Any, ...]) -> SignedHead:
    cid, size, root, signed_at, algorithm, key_id, sig, wkey, witnessed_at, cosig = row
    return SignedHead(
        int(size),
        bytes(root),
        signed_at,
        key_id,
        algorithm,
        bytes(sig),
        str(cid) if cid else None,
        Cosignature(wkey, witnessed_at, bytes(cosig)),
    )


def last_head(conn: psycopg.Connection[Any]) -> SignedHead | None:
    """The head every new one must extend: the last accepted."""
    row = conn.execute(
        f"SELECT {_HEAD_COLUMNS} FROM witness.heads ORDER BY position DESC LIMIT 1"
    ).fetchone()
    return _head(row) if row else None


def witnessed_heads(conn: psycopg.Connection[Any]) -> list[SignedHead]:
    """Every accepted head with its cosignature, in the order accepted."""
    rows = conn.execute(f"SELECT {_HEAD_COLUMNS} FROM witness.heads ORDER BY position")
    return [_head(r) for r in rows]


def seen(conn: psycopg.Connection[Any], checkpoint_ids: list[str]) -> set[str]:
    """Which of these checkpoints were already accepted or refused."""
    if not checkpoint_ids:
        return set()
    rows = conn.execute(_SEEN, {"ids": checkpoint_ids}).fetchall()
    return {str(r[0]) for r in rows}


def cursor(conn: psycopg.Connection[Any]) -> datetime | None:
    """The ledger time of the last checkpoint row examined (accepted or refused), if any.

    Checkpoint rows are inserted one at a time under audit's checkpoint lock, each with the
    database server's clock: rows after this time are exactly the ones not examined yet.
    """
    row = conn.execute(
        "SELECT greatest((SELECT max(ledger_recorded_at) FROM witness.heads),"
        " (SELECT max(ledger_recorded_at) FROM witness.refusals))"
    ).fetchone()
    return row[0] if row else None


def append_head(conn: psycopg.Connection[Any], head: SignedHead, recorded_at: datetime) -> None:
    """Keep an accepted head with its cosignature and the ledger time of its row."""
    cosig = head.cosignature
    assert cosig is not None, "an accepted head is cosigned"
    conn.execute(
        _INSERT_HEAD,
        (
            head.checkpoint_id,
            head.tree_size,
            head.root_hash,
            head.timestamp,
            head.algorithm,
            head.key_id,
            head.signature,
            cosig.key_id,
            cosig.witnessed_at,
            cosig.signature,
            recorded_at,
        ),
    )


def append_refusal(
    conn: psycopg.Connection[Any],
    head: SignedHead,
    refusal: Refusal,
    recorded_at: datetime,
) -> None:
    """Keep a refused head as evidence, with the size it was checked against."""
    conn.execute(
        _INSERT_REFUSAL,
        (
            head.checkpoint_id,
            head.tree_size,
            head.root_hash,
            head.timestamp,
            head.algorithm,
            head.key_id,
            head.signature,
            refusal.kind,
            refusal.detail,
            refusal.witnessed_size,
            recorded_at,
        ),
    )


def refusals(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every refusal, oldest first (for operators and tests)."""
    rows = conn.execute(
        "SELECT checkpoint_id, tree_size, kind, detail, witnessed_size, refused_at"
        " FROM witness.refusals ORDER BY refusal_id"
    ).fetchall()
    keys = ("checkpoint_id", "tree_size", "kind", "detail", "witnessed_size", "refused_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


class WitnessUnreadable(RuntimeError):
    """The witnessed heads could not be read: nothing can be compared (exit 2, not 1)."""


def load_witnessed(source: str) -> list[SignedHead]:
    """Witnessed heads from the witness's database (a postgresql:// URL) or a JSON-lines file
    written by `carnet audit heads export`."""
    from services.audit.heads import HeadFormatError, read_jsonl

    if source.startswith(("postgresql://", "postgres://")):
        try:
            with psycopg.connect(source, connect_timeout=10) as conn:
                conn.read_only = True
                return witnessed_heads(conn)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise WitnessUnreadable(f"witness database: {type(exc).__name__}: {first}") from None
    try:
        return read_jsonl(Path(source))
    except OSError as exc:
        raise WitnessUnreadable(f"heads file: {exc.strerror or exc}: {source}") from None
    except (HeadFormatError, UnicodeDecodeError) as exc:
        raise WitnessUnreadable(f"heads file: {exc}") from None
