"""The access index held against the ledger it is derived from, row by row (#20, item 4).

The index is what a report reads, and the audit role can write it: an edited row once moved
101 appointments out of a scraper's incident and blamed a read on an honest connector, and
every report said so until a reindex. So the rows are derived again here from the ledger's
access records with the projector's own function (`access_record.project`) and compared with
what the index holds: a row missing, invented or different is a finding with its seq. Verify
checks every row; a report checks the rows it rests on (its scope's, in its window) before it
serves anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from services.audit import access_index, access_record
from services.audit.access_index import ENTRY_COLUMNS, REQUEST_COLUMNS
from services.audit.ledger import Connection
from services.audit.subjects import Scope

PAGE = 5000
_ACCESS = "source_service = 'booking' AND event_type = 'AppointmentsAccessed'"
_AT = "coalesce(occurred_at, recorded_at)"
_LEDGER = f"""
SELECT seq, source_service, event_type, schema_version, payload, {_AT} AS occurred_at
  FROM audit.ledger WHERE {_ACCESS} AND {{where}} ORDER BY seq
"""
# A scope's access records in a window, found by the ledger's own partial indexes on who and
# when (migration 0029): the check reads what the report reads, not the whole window.
_IN_SCOPE = (
    f"{_AT} >= %(start)s AND {_AT} < %(end)s AND seq <= %(upto)s"
    " AND (payload ->> 'connector_id' = ANY(%(ledger_connectors)s)"
    " OR payload ->> 'principal_id' = ANY(%(ledger_principals)s)"
    " OR payload ->> 'network_address' = ANY(%(scope_addresses)s))"
)
_BY_SEQ = "seq = ANY(%(seqs)s)"
_INDEXED = """
SELECT r.seq FROM audit.access_requests r
 WHERE {scope} AND r.occurred_at >= %(start)s AND r.occurred_at < %(end)s
"""
_PAST = "indexed past the index's position: no projector wrote it"
_IN_PAGE = "seq > %(after)s AND seq <= %(upto)s"
_REQUESTS = f"SELECT {', '.join(REQUEST_COLUMNS)} FROM audit.access_requests WHERE {{where}}"
_CHILDREN = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM {{table}} WHERE seq = ANY(%(seqs)s)"
# Index rows whose seq is no access record of the ledger, or past the index's own position
# (rows and position commit together): invented either way.
_STRAYS = f"""
SELECT t.seq FROM {{table}} t
 WHERE t.seq > %(upto)s
    OR NOT EXISTS (SELECT FROM audit.ledger l WHERE l.seq = t.seq AND l.{_ACCESS})
 ORDER BY t.seq LIMIT %(limit)s
"""
_INVENTED = "indexed, but no access record of the ledger (here) has this seq"
_MISSING = "the ledger's access record is not in the index"
_TABLES = (access_index.REQUESTS, access_index.ENTRIES, access_index.TARGETS)


@dataclass(frozen=True)
class IndexMismatch:
    """One index row against the ledger: kind is index_missing, index_invented, index_altered."""

    kind: str
    seq: int
    detail: str


Record = tuple[tuple[Any, ...], frozenset[tuple[Any, ...]], frozenset[tuple[Any, ...]]]


def _norm(values: Iterable[Any]) -> tuple[Any, ...]:
    """A row as comparable values: ids and addresses as text, lists as tuples."""
    return tuple(
        tuple(str(x) for x in v)
        if isinstance(v, list | tuple)
        else v
        if v is None or isinstance(v, bool | int | datetime)
        else str(v)
        for v in values
    )


def _expected(rows: Iterable[Mapping[str, Any]]) -> dict[int, Record]:
    """What the projector makes of these ledger rows, by seq."""
    out: dict[int, Record] = {}
    for row in rows:
        request, entries, targets = access_record.project(row)
        out[row["seq"]] = (
            _norm(request),
            frozenset(_norm(e) for e in entries),
            frozenset(_norm(t) for t in targets),
        )
    return out


def _held(conn: Connection, where: str, params: Mapping[str, Any], seqs: set[int]) -> dict:
    """What the index holds: the request rows `where` selects and every row of `seqs`."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(_REQUESTS.format(where=where), params).fetchall()
        more = seqs - {r["seq"] for r in found}
        if more:
            found += cur.execute(
                _REQUESTS.format(where="seq = ANY(%(seqs)s)"), {"seqs": sorted(more)}
            ).fetchall()
        every = sorted(seqs | {r["seq"] for r in found})
        children = [
            cur.execute(_CHILDREN.format(table=t), {"seqs": every}).fetchall()
            for t in (access_index.ENTRIES, access_index.TARGETS)
        ]
    held: dict[int, list[Any]] = {s: [None, set(), set()] for s in every}
    for r in found:
        held[r["seq"]][0] = _norm(r[c] for c in REQUEST_COLUMNS)
    for slot, rows in enumerate(children, start=1):
        for r in rows:
            held[r["seq"]][slot].add(_norm(r[c] for c in ENTRY_COLUMNS))
    return held


def _compare(expected: Mapping[int, Record], held: Mapping[int, list[Any]]) -> list[IndexMismatch]:
    """Every seq where the index and the ledger's derivation differ, in seq order."""
    found = []
    for seq in sorted(set(expected) | set(held)):
        want, have = expected.get(seq), held.get(seq)
        if want is None:
            found.append(IndexMismatch("index_invented", seq, _INVENTED))
        elif have is None or have[0] is None:
            found.append(IndexMismatch("index_missing", seq, _MISSING))
        else:
            parts = [
                name
                for name, w, h in zip(_TABLES, want, have, strict=True)
                if (w != h if name == access_index.REQUESTS else set(w) != h)
            ]
            if parts:
                found.append(IndexMismatch("index_altered", seq, f"differs in {', '.join(parts)}"))
    return found


def check_scope(
    conn: Connection, scope: Scope, start: datetime, end: datetime
) -> list[IndexMismatch]:
    """What a report of `scope` over [start, end) rests on, against the ledger: every access
    record the ledger says is the scope's, and every index row the index says is.

    A record moved out of the scope (blamed on someone else) is found from the ledger's side,
    one moved in or invented from the index's; both sides are derived and compared in full."""
    params = {
        "start": start, "end": end, "upto": access_index.position(conn), **scope.params(),
        "ledger_connectors": [str(c) for c in scope.connectors],
        "ledger_principals": [str(p) for p in scope.principals],
    }  # fmt: skip
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_LEDGER.format(where=_IN_SCOPE), params).fetchall()
        indexed = {r["seq"] for r in cur.execute(_INDEXED.format(scope=scope.where("r")), params)}
        past = sorted(s for s in indexed if s > params["upto"])  # what a report would read too
        indexed -= set(past)
        more = sorted(indexed - {r["seq"] for r in rows})
        if more:  # in the index's scope only: what does the ledger say they are?
            rows += cur.execute(_LEDGER.format(where=_BY_SEQ), {"seqs": more}).fetchall()
    expected = _expected(rows)
    seqs = set(expected) | indexed
    found = _compare(expected, _held(conn, _BY_SEQ, {"seqs": sorted(seqs)}, seqs))
    found += [IndexMismatch("index_invented", seq, _PAST) for seq in past]
    return sorted(found, key=lambda m: m.seq)


def check_all(conn: Connection, limit: int) -> list[IndexMismatch]:
    """Every index row, a page of ledger seqs at a time, then rows of no access record."""
    upto, after, found = access_index.position(conn), 0, []
    while after < upto and len(found) < limit:
        params = {"after": after, "upto": min(upto, after + PAGE * 4)}
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_LEDGER.format(where=_IN_PAGE), params).fetchall()
        expected = _expected(rows)
        found += _compare(expected, _held(conn, _IN_PAGE, params, set(expected)))
        after = params["upto"]
    seen = {m.seq for m in found}
    for table in _TABLES:
        for (seq,) in conn.execute(
            _STRAYS.format(table=table), {"upto": upto, "limit": limit}
        ).fetchall():
            if seq not in seen:
                seen.add(seq)
                found.append(IndexMismatch("index_invented", seq, f"{table}: no access record"))
    return sorted(found, key=lambda m: m.seq)[:limit]
