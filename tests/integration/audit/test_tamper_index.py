"""A checked index (#20, item 4): an index row edited, deleted or invented is found by verify
with its seq, and no report is served over a window where the index and the ledger differ.

The ledger is incident_story's; each test tampers with the derived index as the database
superuser, as an insider with the audit role could, then asks verify and a report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from services.audit import access_index, incidents, index_check
from services.audit.subjects import Scope, parse
from services.common.config import service_database_url
from services.common.errors import Unavailable
from services.common.eventstore.store import EventStore
from tests.integration.audit.incident_story import Story, at, build
from tests.support.ledger import Ledger, tamper, verify


@pytest.fixture
def story(world) -> Story:
    told = build(Ledger(world.pool))
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        access_index.catch_up(conn)
    return told


def _reads(world, connector: str) -> list[int]:
    """The seqs of a connector's served reads in the index, oldest first."""
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute(
            "SELECT seq FROM audit.access_requests WHERE connector_id = %s AND outcome ="
            " 'success' ORDER BY seq",
            (connector,),
        ).fetchall()
    return [r[0] for r in rows]


def _report(world, connector: str) -> dict[str, Any]:
    """Open an incident over the connector for the story's window; its report."""
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        incident_id = incidents.open_incident(
            conn, EventStore(world.pool, "audit"), opened_by=uuid.uuid4(), title="t",
            subjects=parse([{"kind": "connector", "value": connector}]), start=at(0),
            end=at(20), aware_at=at(30),
        )  # fmt: skip
        return incidents.build_report(conn, incident_id)


def _index_findings(world) -> list[tuple[str, int]]:
    """Verify's findings about the index."""
    report = verify(world, grace_seconds=3600)
    return [(f.kind, f.seq) for f in report.findings if f.kind.startswith("index_")]


def test_an_untouched_index_holds_and_the_report_is_served(world, story):
    assert _index_findings(world) == []
    with psycopg.connect(world.database_url) as conn:
        for connector in (story.c1, story.c3):
            scope = Scope.of_connector(uuid.UUID(str(connector)))
            assert index_check.check_scope(conn, scope, at(0), at(20)) == []
    assert _report(world, story.c1)["affected"]["appointment_count"] == 4


def _moved(world, story: Story) -> int:
    """Blame the scraper's first read in the window on the honest connector."""
    seq = _reads(world, story.c1)[1]
    tamper(
        world,
        ("UPDATE audit.access_requests SET connector_id = %s, principal_id = %s WHERE seq = %s",
         (story.c3, story.c3, seq)),
        ("UPDATE audit.access_entries SET connector_id = %s, principal_id = %s WHERE seq = %s",
         (story.c3, story.c3, seq)),
    )  # fmt: skip
    return seq


def _deleted(world, story: Story) -> int:
    seq = _reads(world, story.c1)[2]
    tamper(
        world,
        ("DELETE FROM audit.access_entries WHERE seq = %s", (seq,)),
        ("DELETE FROM audit.access_requests WHERE seq = %s", (seq,)),
    )
    return seq


def _entry_dropped(world, story: Story) -> int:
    seq = _reads(world, story.c1)[1]
    tamper(world, ("DELETE FROM audit.access_entries WHERE seq = %s AND appointment_id = %s",
                   (seq, story.appointments[0])))  # fmt: skip
    return seq


def _invented(world, story: Story) -> int:
    """A read the honest connector never made, on the seq of a registration."""
    with psycopg.connect(world.database_url) as conn:
        seq = conn.execute(
            "SELECT min(seq) FROM audit.ledger WHERE event_type = 'ConnectorRegistered'"
        ).fetchone()[0]
        row = conn.execute(
            "SELECT * FROM audit.access_requests WHERE seq = %s", (_reads(world, story.c1)[1],)
        ).fetchone()
    columns = ", ".join(access_index.REQUEST_COLUMNS)
    values = (seq, uuid.uuid4(), *row[2:])
    tamper(world, (f"INSERT INTO audit.access_requests ({columns}) VALUES "
                   f"({', '.join('%s' for _ in values)})", values))  # fmt: skip
    return seq


@pytest.mark.parametrize(
    ("change", "kind", "both"),
    [
        (_moved, "index_altered", True),  # the scraper's report and the blamed partner's
        (_deleted, "index_missing", False),
        (_entry_dropped, "index_altered", False),
        (_invented, "index_invented", False),
    ],
    ids=["row_edited", "row_deleted", "entry_deleted", "row_invented"],
)
def test_a_tampered_index_is_found_and_no_report_resting_on_it_is_served(
    world, story, change: Callable[[Any, Story], int], kind: str, both: bool
):
    """Every report whose answer the tampered row changes is refused; a report it does not
    touch (the honest partner's, when only the scraper's rows changed) is served, exact."""
    honest = _report(world, story.c3)["affected"]
    seq = change(world, story)
    assert _index_findings(world) == [(kind, seq)]
    report = verify(world, grace_seconds=3600)
    assert report.ok is False and seq in {f.seq for f in report.findings}
    with pytest.raises(Unavailable, match=f"seq {seq}"):
        _report(world, story.c1)
    if both:
        with pytest.raises(Unavailable, match=f"seq {seq}"):
            _report(world, story.c3)
    else:
        assert _report(world, story.c3)["affected"] == honest


def test_the_audit_role_may_only_add_what_the_ledger_holds_past_the_position(world, story):
    url = service_database_url(world.database_url, "audit", {})
    seq = _reads(world, story.c1)[1]
    with psycopg.connect(world.database_url) as conn:
        registration = conn.execute(
            "SELECT min(seq) FROM audit.ledger WHERE event_type = 'ConnectorRegistered'"
        ).fetchone()[0]
    columns = ", ".join(access_index.REQUEST_COLUMNS)
    blanks = ", ".join(
        {"field_classes": "'{}'", "occurred_at": "now()"}.get(c, "NULL")
        for c in access_index.REQUEST_COLUMNS[1:]
    )
    for statement in (
        f"UPDATE audit.access_requests SET connector_id = '{story.c3}' WHERE seq = {seq}",
        f"DELETE FROM audit.access_entries WHERE seq = {seq}",
        f"DELETE FROM audit.access_requests WHERE seq = {seq}",  # its entries cascade
        "TRUNCATE audit.access_targets",
        f"INSERT INTO audit.access_requests ({columns}) VALUES ({registration}, {blanks})",
    ):
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    assert _index_findings(world) == []  # nothing got through


def test_an_index_row_written_ahead_of_the_projector_refuses_the_report(world, story):
    """The guard lets the audit role add a row for an access record past the position (the
    projector adds, then moves it): one written ahead, blaming the scraper, is refused."""
    with psycopg.connect(world.database_url) as conn:
        payload, version = conn.execute(
            "SELECT payload, schema_version FROM audit.ledger WHERE seq = %s",
            (_reads(world, story.c1)[1],),
        ).fetchone()
    seq = Ledger(world.pool).put("AppointmentsAccessed", payload, version=version, at=at(5))
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT * FROM audit.access_requests WHERE seq = %s", (_reads(world, story.c1)[1],)
        ).fetchone()
    columns = ", ".join(access_index.REQUEST_COLUMNS)
    values = (seq, uuid.uuid4(), *row[2:])
    url = service_database_url(world.database_url, "audit", {})
    with psycopg.connect(url) as conn:  # as the audit role, the guard on
        conn.execute(f"INSERT INTO audit.access_requests ({columns}) VALUES"
                     f" ({', '.join('%s' for _ in values)})", values)  # fmt: skip
    with pytest.raises(Unavailable, match="index"):
        _report(world, story.c1)
