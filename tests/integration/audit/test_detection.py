"""Detection on real PostgreSQL, as carnet_audit: the sync contract, each rule's steps, links,
evidence, exactly once. Events are shaped as booking and identity produce them (the bench's
factories, each checked against its contract)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from scripts.bench._detection_events import Appt, BenchEvent, Events
from services.audit.detection import engine, rules
from services.common.eventstore.store import EventStore

T0 = datetime(2030, 1, 3, 10, 0, tzinfo=UTC)
EVENTS = Events()
ADDRESS, AGENT = "198.51.100.7", "PracticeSync/4.2"  # for events not built by read()


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """The audit service's role, so the migration's grants are what is tested."""
    role_url = migrated_database_url.replace("postgres@", "carnet_audit@", 1)
    with ConnectionPool(role_url, min_size=1, max_size=10, open=True) as p:
        yield p


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, "audit")


def run(pool, store, events: Sequence[BenchEvent], **config: str) -> list[engine.Detection]:
    found = []
    for event in events:
        found += engine.handle(pool, store, config, event)
    return found


def steps(found: Sequence[engine.Detection]) -> list[tuple[str, str]]:
    return [(d.finding.rule, d.finding.recommended_action) for d in found]


def agenda(practitioner: uuid.UUID, n: int, first: datetime = T0) -> list[Appt]:
    """n appointments of one agenda, one an hour from `first`, each of its own patient."""
    return [
        Appt(uuid.uuid4(), practitioner, uuid.uuid4(), first + timedelta(hours=i)) for i in range(n)
    ]


def connector_with(pool, store, appointments: Sequence[Appt], vendor: str = "") -> uuid.UUID:
    """A connector registered and granted the appointments' agendas, booking's events known."""
    c = uuid.uuid4()
    setup = [EVENTS.registered(c, vendor or f"vendor-{c.hex[:6]}", T0 - timedelta(days=3))]
    setup += [
        EVENTS.granted(c, p, T0 - timedelta(days=3))
        for p in {a.practitioner_id for a in appointments}
    ]
    setup += [EVENTS.booked(a, min(T0, a.start) - timedelta(days=2)) for a in appointments]
    assert run(pool, store, setup) == []
    return c


def read(
    c: uuid.UUID, appointments: Sequence[Appt], at: datetime, page: int = 100, **kw: Any
) -> list[BenchEvent]:
    """The connector reads these appointments in pages, a second apart."""
    kw = {"address": own_address(c), "agent": f"PracticeSync/{c.hex[:6]}", **kw}
    return [
        EVENTS.accessed(
            c,
            "connector",
            at + timedelta(seconds=i // page),
            served=tuple(appointments[i : i + page]),
            **kw,
        )
        for i in range(0, len(appointments), page)
    ]


def own_address(c: uuid.UUID) -> str:
    """Each connector its own address and agent unless a test says otherwise: no stray links."""
    return "10.{}.{}.{}".format(*c.bytes[:3])


def stored(pool: ConnectionPool, subject: str, key: str = "principal_id") -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT data, metadata, schema_version FROM audit.events "
            f"WHERE event_type = 'SuspiciousAccessDetected' AND data->>'{key}' = %s "
            "ORDER BY position",
            (subject,),
        ).fetchall()


def test_a_first_sync_then_deltas_with_overlap_fire_nothing(pool, store):
    d = uuid.uuid4()
    appts = agenda(d, 330, T0 - timedelta(days=20))
    c = connector_with(pool, store, appts)
    assert run(pool, store, read(c, appts, T0)) == []
    # Changes, each read by the next delta and again by the one after (a 5-minute overlap).
    events = []
    for hour in range(1, 25):
        at = T0 + timedelta(hours=hour)
        changed = appts[hour * 10 : hour * 10 + 8]
        events += [EVENTS.rescheduled(a, a.start, at - timedelta(minutes=3)) for a in changed]
        previous = appts[(hour - 1) * 10 : (hour - 1) * 10 + 8] if hour > 1 else []
        events += read(c, [*changed, *previous[-2:]], at)
    assert run(pool, store, events) == []


def test_d1_rereads_throttle_then_suspend_with_evidence(pool, store):
    d = uuid.uuid4()
    appts = agenda(d, 330)
    c = connector_with(pool, store, appts)
    assert run(pool, store, read(c, appts, T0)) == []  # the first sync
    later = T0 + timedelta(hours=2)
    assert run(pool, store, read(c, appts[:50], later, page=25)) == []  # 50 tolerated
    tipping = read(c, appts[50:60], later + timedelta(seconds=5))
    [throttle] = run(pool, store, tipping)
    assert steps([throttle]) == [("D1_reread", "throttle")]
    assert run(pool, store, read(c, appts[60:100], later + timedelta(seconds=6))) == []
    [suspend] = run(pool, store, read(c, appts[100:101], later + timedelta(seconds=7)))
    assert steps([suspend]) == [("D1_reread", "suspend")]

    rows = stored(pool, str(c))
    assert [r["data"]["recommended_action"] for r in rows] == ["throttle", "suspend"]
    data, evidence = rows[0]["data"], rows[0]["data"]["evidence"]
    assert rows[0]["schema_version"] == 3 and data["principal_kind"] == "connector"
    assert data["connector_id"] == str(c) and data["network_address"] is None
    assert data["severity"] == "high" and rows[1]["data"]["severity"] == "critical"
    assert evidence["window_start"].startswith("2030-01-03T11:01:00")
    assert evidence["window_end"].startswith("2030-01-03T12:01:00")
    assert (evidence["observed"], evidence["threshold"], evidence["baseline"]) == (60, 50, 330)
    assert evidence["distinct_appointments"] == 60 and evidence["distinct_patients"] == 60
    assert evidence["access_count"] == 3 and len(evidence["access_ids"]) == 3
    assert evidence["network_addresses"] == [own_address(c)]
    assert "60 distinct appointments re-read unchanged" in evidence["summary"]
    assert rows[0]["metadata"]["causation_id"] == str(tipping[0].event_id)


def test_a_reread_after_the_appointment_changed_or_a_new_grant_is_a_delta(pool, store):
    d, other = uuid.uuid4(), uuid.uuid4()
    appts = agenda(d, 120)
    c = connector_with(pool, store, appts)
    assert run(pool, store, read(c, appts, T0)) == []
    later = T0 + timedelta(hours=3)
    changes = [EVENTS.rescheduled(a, a.start, later - timedelta(minutes=1)) for a in appts]
    assert run(pool, store, [*changes, *read(c, appts, later)]) == []
    # The grant is revoked, then given again: the agenda is synced anew, by contract.
    regrant = [EVENTS.revoked(c, d, later), EVENTS.granted(c, d, later + timedelta(hours=1))]
    assert run(pool, store, [*regrant, *read(c, appts, later + timedelta(hours=2))]) == []
    assert other not in {a.practitioner_id for a in appts}


def test_redelivery_of_the_same_event_changes_nothing(pool, store):
    appts = agenda(uuid.uuid4(), 200)
    c = connector_with(pool, store, appts)
    run(pool, store, read(c, appts, T0))
    later = T0 + timedelta(hours=2)
    tipping = read(c, appts[:60], later)
    assert len(run(pool, store, tipping)) == 1
    assert run(pool, store, [*tipping, *tipping]) == []
    assert len(stored(pool, str(c))) == 1
    with pool.connection() as conn:
        (returned,) = conn.execute(
            "SELECT sum(returned) FROM audit.detection_buckets WHERE subject = %s", (str(c),)
        ).fetchone()
    assert returned == 260


def test_concurrent_events_of_one_principal_fire_each_step_exactly_once(pool, store):
    appts = agenda(uuid.uuid4(), 300)
    c = connector_with(pool, store, appts)
    run(pool, store, read(c, appts, T0))
    later = T0 + timedelta(hours=2)
    events = [
        EVENTS.accessed(
            c, "connector", later + timedelta(seconds=i), own_address(c), None, served=(appts[i],)
        )
        for i in range(160)
    ]
    threads = [threading.Thread(target=run, args=(pool, store, events[i::8])) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = stored(pool, str(c))
    observed = {
        (r["data"]["rule"], r["data"]["recommended_action"]): r["data"]["evidence"]["observed"]
        for r in rows
    }
    # D2 says nothing while D1 holds a step at least as high.
    assert len(rows) == 2
    # Events of later minutes may be counted first: the crossing is seen once, a little later.
    assert set(observed) == {("D1_reread", "throttle"), ("D1_reread", "suspend")}
    assert 50 < observed["D1_reread", "throttle"] <= 60 < 100 < observed["D1_reread", "suspend"]


def test_cooldown_one_finding_per_step_per_window_then_again(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    c = connector_with(pool, store, appts)
    run(pool, store, read(c, appts, T0))
    later = T0 + timedelta(hours=2)
    assert steps(run(pool, store, read(c, appts[:60], later))) == [("D1_reread", "throttle")]
    assert run(pool, store, read(c, appts[60:90], later + timedelta(minutes=5))) == []
    # The next window: 60 re-reads throttle again (D2's day, 150 > 100, is D1's to say).
    again = read(c, appts[150:210], later + timedelta(hours=1, minutes=2))
    assert steps(run(pool, store, again)) == [("D1_reread", "throttle")]
    # Once D1 has cooled down, the day's total is D2's: 240 re-reads > 100, a review.
    day = read(c, appts[210:240], later + timedelta(hours=2, minutes=3))
    assert steps(run(pool, store, day)) == [("D2_slow_reread", "review")]


def test_d3_reading_beyond_the_horizon(pool, store):
    d = uuid.uuid4()
    old = agenda(d, 120, T0 - timedelta(days=90))
    c = connector_with(pool, store, old)
    assert run(pool, store, read(c, old[:50], T0)) == []
    [fired] = run(pool, store, read(c, old[50:60], T0 + timedelta(seconds=3)))
    assert steps([fired]) == [("D3_deep_past", "throttle")]
    assert fired.finding.tally.reach == 0  # nothing of the agenda is within the horizon


def test_d4_outside_grants_graduated_and_a_revoked_grant_is_honest(pool, store):
    mine, theirs = agenda(uuid.uuid4(), 5), agenda(uuid.uuid4(), 20)
    c = connector_with(pool, store, mine)
    run(pool, store, [EVENTS.booked(a, T0 - timedelta(days=1)) for a in theirs])
    # Its own agenda's grant is revoked mid-sync: the refusals that follow are honest.
    revoked = [EVENTS.revoked(c, mine[0].practitioner_id, T0)]
    refused_own = [
        EVENTS.accessed(
            c,
            "connector",
            T0 + timedelta(seconds=i),
            own_address(c),
            None,
            denial="reach",
            targets=(mine[i % 5],),
        )
        for i in range(12)
    ]
    assert run(pool, store, [*revoked, *refused_own]) == []
    probes = [
        EVENTS.accessed(
            c,
            "connector",
            T0 + timedelta(seconds=20 + i),
            own_address(c),
            None,
            denial="reach",
            targets=(theirs[i],),
        )
        for i in range(11)
    ]
    assert steps(run(pool, store, probes)) == [
        ("D4_outside_grants", "review"),
        ("D4_outside_grants", "throttle"),
        ("D4_outside_grants", "suspend"),
    ]
    [suspend] = stored(pool, str(c))[-1:]
    assert suspend["data"]["evidence"]["observed"] == 11
    assert set(suspend["data"]["evidence"]["access_ids"]) <= {
        str(e.payload["access_id"]) for e in probes
    }


def test_a_patient_probing_ids_is_throttled_then_suspended(pool, store):
    patient, d = uuid.uuid4(), uuid.uuid4()
    own = Appt(uuid.uuid4(), d, patient, T0 + timedelta(days=2))
    others = agenda(d, 40)
    run(pool, store, [EVENTS.booked(a, T0 - timedelta(days=1)) for a in [own, *others]])
    mine = [
        EVENTS.accessed(
            patient, "patient", T0 + timedelta(seconds=i), "203.0.113.9", "Browser", served=(own,)
        )
        for i in range(30)
    ]
    assert run(pool, store, mine) == []  # its own appointment, as often as it likes
    found = []
    for i in range(60):  # random ids (404), and every fourth a real one of someone else (403)
        at = T0 + timedelta(minutes=1, seconds=i)
        if i % 4 == 3:
            event = EVENTS.accessed(
                patient,
                "patient",
                at,
                "203.0.113.9",
                "Browser",
                denial="reach",
                targets=(others[i % 40],),
            )
        else:
            event = EVENTS.accessed(
                patient,
                "patient",
                at,
                "203.0.113.9",
                "Browser",
                denial="not_found",
                query=f"GET /fhir/Appointment/{uuid.uuid4()}",
            )
        found += [(i + 1, *s) for s in steps(run(pool, store, [event]))]
    assert found[0] == (4, "D4_outside_grants", "review")
    throttled = next(n for n, _, action in found if action == "throttle")
    suspended = next(n for n, _, action in found if action == "suspend")
    assert throttled <= 24 and suspended <= 51
    assert stored(pool, str(patient))[0]["data"]["principal_kind"] == "patient"


def test_d6_refused_tokens_from_an_address_nobody_answers_for(pool, store):
    address = "203.0.113.77"
    guesses = [
        EVENTS.accessed(
            None,
            "unknown",
            T0 + timedelta(seconds=i),
            address,
            "curl/8",
            denial="unauthenticated",
            fingerprint=f"{i:016x}",
        )
        for i in range(11)
    ]
    [fired] = run(pool, store, guesses)
    assert steps([fired]) == [("D6_refused_tokens", "review")]
    [row] = stored(pool, address, key="network_address")
    assert row["data"]["principal_id"] is None and row["data"]["principal_kind"] == "unknown"
    assert row["data"]["evidence"]["network_addresses"] == [address]


def test_d7_one_refused_token_replayed_from_many_addresses(pool, store):
    fingerprint = uuid.uuid4().hex[:16]
    replays = [
        EVENTS.accessed(
            None,
            "unknown",
            T0 + timedelta(seconds=i),
            f"192.0.2.{i + 1}",
            None,
            denial="unauthenticated",
            fingerprint=fingerprint,
        )
        for i in range(21)
    ]
    found = run(pool, store, replays)
    assert ("D7_token_replay", "review") in steps(found)
    replay = next(d for d in found if d.finding.rule == "D7_token_replay")
    assert replay.network_address == "192.0.2.21"


def test_d8_unexplained_reads_from_a_new_address(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    c = connector_with(pool, store, appts)
    run(pool, store, read(c, appts, T0))  # from its usual address
    later = T0 + timedelta(hours=2)
    assert run(pool, store, read(c, appts[:20], later, address="203.0.113.50")) == []
    fired = run(
        pool, store, read(c, appts[20:30], later + timedelta(seconds=2), address="203.0.113.50")
    )
    assert steps(fired) == [("D8_new_address", "throttle")]


def test_linked_principals_by_address_and_vendor_trusted_left_out(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    a = connector_with(pool, store, appts, vendor="bench-small-vendor")
    b = connector_with(pool, store, appts, vendor="bench-small-vendor")
    c = connector_with(pool, store, appts)
    trusted = connector_with(pool, store, appts)
    run(pool, store, [EVENTS.trusted(trusted, "connector", T0 + timedelta(days=1), T0)])
    for x in (a, c, trusted):
        run(pool, store, read(x, appts, T0, address="192.0.2.200"))
    [fired] = run(pool, store, read(a, appts[:60], T0 + timedelta(hours=2), address="192.0.2.200"))
    assert set(fired.linked) == {b, c}


def test_connectors_of_one_registrant_are_linked_whatever_their_vendor_names(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    a, b, c = (uuid.uuid4() for _ in range(3))
    setup = [
        EVENTS.registered(a, "Agenda Tool", T0 - timedelta(days=3), "Ops@Attacker.example"),
        EVENTS.registered(b, "Other Name Ltd", T0 - timedelta(days=3), "ops@attacker.example"),
        EVENTS.registered(c, "Honest Vendor", T0 - timedelta(days=3), "it@honest.example"),
    ]
    for x in (a, b, c):
        setup += [EVENTS.granted(x, appts[0].practitioner_id, T0 - timedelta(days=3))]
    setup += [EVENTS.booked(x, min(T0, x.start) - timedelta(days=2)) for x in appts]
    assert run(pool, store, setup) == []
    for n, x in enumerate((a, b, c)):  # each from its own address and client
        run(pool, store, read(x, appts, T0, address=f"192.0.2.{210 + n}"))
    [fired] = run(pool, store, read(a, appts[:60], T0 + timedelta(hours=2), address="192.0.2.210"))
    assert fired.linked == (b,)


def test_a_value_many_principals_share_is_not_a_link(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    crowd = [connector_with(pool, store, appts) for _ in range(6)]
    for x in crowd:
        run(pool, store, read(x, appts, T0, address="192.0.2.201"))
    later = T0 + timedelta(hours=2)
    [fired] = run(pool, store, read(crowd[0], appts[:60], later, address="192.0.2.201"))
    assert fired.linked == ()


def test_d9_a_principal_joining_the_address_of_a_contained_one(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    a, b = connector_with(pool, store, appts), connector_with(pool, store, appts)
    run(pool, store, read(a, appts, T0, address="192.0.2.202"))
    run(pool, store, read(a, appts[:120], T0 + timedelta(hours=2), address="192.0.2.202"))
    run(pool, store, read(b, appts[:10], T0 + timedelta(hours=3), address="192.0.2.99"))
    joined = run(
        pool,
        store,
        read(b, appts[10:20], T0 + timedelta(hours=3, seconds=5), address="192.0.2.202"),
    )
    assert ("D9_linked", "throttle") in steps(joined)


def test_a_trusted_principal_gets_findings_for_review_only_until_its_time(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    c = connector_with(pool, store, appts)
    until = T0 + timedelta(hours=6)
    run(pool, store, [EVENTS.trusted(c, "connector", until, T0), *read(c, appts, T0)])
    migration = run(pool, store, read(c, appts, T0 + timedelta(hours=2)))
    assert {d.finding.recommended_action for d in migration} == {"review"}
    assert "trusted until" in migration[0].finding.summary
    after = run(pool, store, read(c, appts[:120], until + timedelta(hours=2)))
    assert ("D1_reread", "suspend") in steps(after)


def test_disabled_detection_claims_nothing(pool, store):
    appts = agenda(uuid.uuid4(), 5)
    event = read(uuid.uuid4(), appts, T0)[0]
    assert run(pool, store, [event], AUDIT_DETECTION_ENABLED="false") == []
    with pool.connection() as conn:
        claimed = conn.execute(
            "SELECT 1 FROM audit.processed_events WHERE event_id = %s", (event.event_id,)
        ).fetchone()
    assert claimed is None


def test_a_bad_setting_refuses_the_event_rather_than_guess():
    with pytest.raises(ValueError, match="AUDIT_D1_SUSPEND_FLOOR"):
        engine.settings_for({"AUDIT_D1_SUSPEND_FLOOR": "ten"})


def test_the_audit_role_cannot_touch_the_ledger_through_detection_grants(migrated_database_url):
    role_url = migrated_database_url.replace("postgres@", "carnet_audit@", 1)
    with psycopg.connect(role_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit.ledger")


def test_state_older_than_every_window_is_pruned_reads_kept_within_memory(pool, store):
    appts = agenda(uuid.uuid4(), 3)
    c = connector_with(pool, store, appts)
    run(pool, store, read(c, appts[:1], T0 - timedelta(days=40)))
    run(pool, store, read(c, appts[1:2], T0 - timedelta(days=3)))
    run(pool, store, read(c, appts[2:3], T0))
    with pool.connection() as conn:
        counts = conn.execute(
            "SELECT (SELECT sum(returned) FROM audit.detection_buckets WHERE subject = %(c)s),"
            " (SELECT count(*) FROM audit.detection_items"
            "  WHERE subject = %(c)s AND kind = 'appointment'),"
            " (SELECT count(*) FROM audit.detection_reads WHERE subject = %(c)s)",
            {"c": str(c)},
        ).fetchone()
    # Windows reach back a day (the newest read only); reads are remembered 30 days (two).
    assert counts == (1, 1, 2)


def test_rereads_split_between_principals_on_one_address_add_up_to_a_throttle(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    a, b = connector_with(pool, store, appts), connector_with(pool, store, appts)
    shared = "192.0.2.203"
    run(pool, store, [*read(a, appts, T0, address=shared), *read(b, appts, T0, address=shared)])
    later = T0 + timedelta(hours=2)
    assert run(pool, store, read(a, appts[:30], later, address=shared)) == []  # 30: under 50
    [joint] = run(pool, store, read(b, appts[30:60], later, address=shared))
    assert steps([joint]) == [("D1_reread", "throttle")] and joint.principal_id == b
    assert (
        joint.finding.observed == 60 and "with 1 principals on its address" in joint.finding.summary
    )
    # Never a suspension on the joint measure alone: b's own 30 + 50 more is still under 100.
    more = run(pool, store, read(b, appts[60:110], later + timedelta(seconds=5), address=shared))
    assert ("D1_reread", "suspend") not in steps(more)


def test_failed_sign_ins_count_for_their_connector_or_else_their_address(pool, store):
    c, address = uuid.uuid4(), "203.0.113.78"
    failed = {"client_id": "bench", "reason": "invalid_secret", "request_id": "r"}

    def attempt(connector: uuid.UUID | None, i: int) -> BenchEvent:
        data = {**failed, "attempt_id": str(uuid.uuid4()), "network_address": address,
                "connector_id": str(connector) if connector else None}  # fmt: skip
        return EVENTS.make("AuthenticationFailed", data, T0 + timedelta(seconds=i))

    named = run(pool, store, [attempt(c, i) for i in range(21)])
    assert steps(named) == [("D5_probing", "throttle")] and named[0].principal_id == c
    unnamed = run(pool, store, [attempt(None, i) for i in range(11)])
    assert steps(unnamed) == [("D6_refused_tokens", "review")]
    assert unnamed[0].network_address == address and unnamed[0].principal_id is None


def test_a_token_issued_from_a_contained_principals_address_throttles_the_newcomer(pool, store):
    appts = agenda(uuid.uuid4(), 330)
    a, b = connector_with(pool, store, appts), connector_with(pool, store, appts)
    shared = "192.0.2.204"
    run(pool, store, [*read(a, appts, T0, address=shared), *read(b, appts, T0)])
    run(pool, store, read(a, appts[:120], T0 + timedelta(hours=2), address=shared))
    token = {"token_id": str(uuid.uuid4()), "principal_id": str(b), "connector_id": str(b),
             "grant_type": "client_credentials", "scopes": ["appointment:read"],
             "field_classes": ["administrative"], "principal_kind": "connector",
             "expires_at": "2030-01-04T10:00:00+00:00", "network_address": shared}  # fmt: skip
    found = run(pool, store, [EVENTS.make("TokenIssued", token, T0 + timedelta(hours=3))])
    assert ("D9_linked", "throttle") in steps(found)


def test_d10_pressing_past_429_throttles_then_suspends_waiting_does_not(pool, store):
    appts = agenda(uuid.uuid4(), 200)
    waits, presses = (connector_with(pool, store, appts) for _ in range(2))
    config = {"AUDIT_D10_THROTTLE": "20", "AUDIT_D10_SUSPEND": "60"}  # the defaults: unit tests

    def over_quota(c: uuid.UUID, n: int, every_s: float) -> list[BenchEvent]:
        return [
            EVENTS.accessed(
                c,
                "connector",
                T0 + timedelta(seconds=i * every_s),
                own_address(c),
                None,
                denial="quota",
            )
            for i in range(n)
        ]

    # A client that waits Retry-After: one 429 per page, a page every 40 s, for 20 minutes.
    assert run(pool, store, over_quota(waits, 30, 40), **config) == []
    pressing = over_quota(presses, 61, 0.1)
    found = [s for e in pressing for s in steps(run(pool, store, [e], **config))]
    assert found == [(rules.D10, "throttle"), (rules.D10, "suspend")]
    [throttle, suspend] = stored(pool, str(presses))
    assert throttle["data"]["evidence"]["observed"] == 21
    assert suspend["data"]["evidence"]["observed"] == 61
