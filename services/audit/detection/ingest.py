"""What an access record or a sign-in adds to its subjects, and which rules it may have tipped.

Each subject is locked before its state changes (subjects.lock). The marks of classify.py
become counters, distinct items and the record's sample row; a rule is due only when the
event added to its measure, so an honest delta sync costs its writes and no window read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.audit.detection import classify, links, record, reference, subjects
from services.audit.detection.observe import Access, SignIn
from services.audit.detection.rules import D1, D2, D3, D4, D5, D6, D7, D8, D9, D10
from services.audit.detection.settings import DetectionSettings
from services.audit.detection.subjects import Subject

Connection = Any  # psycopg.Connection
# Which rules each mark feeds.
DUE = {
    "reread": (D1, D2),
    "deep": (D3,),
    "beyond": (D4,),
    "outside": (D4,),
    "refused": (D5,),
    "quota": (D10,),
    "new_address": (D8,),
}
NOT_WATCHED = ("service",)  # other Carnet services over RPC: recorded, not an edge credential


@dataclass
class Work:
    """A subject whose state changed, and the rules to ask about it."""

    subject: Subject
    due: set[str] = field(default_factory=set)
    contained_links: int = 0


def minute(at: datetime) -> datetime:
    """The bucket an event counts in."""
    return at.replace(second=0, microsecond=0)


def access(conn: Connection, a: Access, s: DetectionSettings) -> list[Work]:
    """An access record: its principal's reads and refusals, or a refused token's address."""
    if a.principal_kind in NOT_WATCHED:
        return []
    if a.principal_id is None:
        return _anonymous(conn, a, s)
    subject = subjects.principal(a.principal_kind, a.principal_id)
    subjects.lock(conn, subject, a.at, s)
    work = Work(subject)
    seen = record.seen(conn, subject.key, a.at, a.address, a.agent, s.d8_window_s)
    counters = {"accesses": 1, "returned": a.returned}
    marks: set[str] = set()
    if a.denied:
        marks |= _refusal(conn, a, counters)
    elif a.entries:
        marks |= _reads(conn, a, subject, seen.new_address, s)
    record.count(conn, subject.key, minute(a.at), counters)
    record.sample(conn, subject.key, a.at, a.access_id, sorted(marks))
    _judge_links(conn, work, seen, a.at, s)
    for mark in marks:
        work.due.update(DUE.get(mark, ()))
    return [work]


def _reads(
    conn: Connection, a: Access, subject: Subject, new_address: bool, s: DetectionSettings
) -> set[str]:
    """Served appointments: which the sync contract explains, which it does not."""
    assert a.principal_id is not None
    connector = a.principal_id if a.principal_kind == "connector" else None
    priors = record.remember_reads(conn, subject.key, connector, a.entries, a.at)
    items: dict[str, list[Any]] = {"appointment": [], "patient": []}
    unexplained = []
    for p in priors:
        items["appointment"].append(p.appointment_id)
        if p.patient_id is not None:
            items["patient"].append(p.patient_id)
        earned = classify.read_marks(a.principal_kind, a.principal_id, p, a.at, s, a.operation)
        for mark in earned:
            items.setdefault(mark, []).append(p.appointment_id)
        if earned:
            unexplained.append(p.appointment_id)
    if new_address and unexplained:
        items["new_address"] = unexplained
    items["patient"] = list(dict.fromkeys(items["patient"]))
    record.add_items(conn, subject.key, minute(a.at), items)
    return {kind for kind, ids in items.items() if ids} - {"appointment", "patient"}


def _refusal(conn: Connection, a: Access, counters: dict[str, int]) -> set[str]:
    """A refused read: probing, outside the grants, a refused token, or an honest stale grant."""
    granted: frozenset = frozenset()
    if a.principal_kind == "connector" and a.denial_code == "reach" and a.principal_id:
        granted = reference.granted_ever(conn, a.principal_id, classify.aimed_practitioners(a))
    marks = set(classify.refusal_marks(a, granted))
    counters["refused"] = int("refused" in marks)
    counters["reach_refused"] = int("outside" in marks)
    counters["unauthenticated"] = int("unauthenticated" in marks)
    counters["over_quota"] = int("quota" in marks)
    return marks


def _anonymous(conn: Connection, a: Access, s: DetectionSettings) -> list[Work]:
    """A refused token nobody answers for: counted on its address, and on the token itself."""
    keyed = [subjects.address(a.address)]
    if a.fingerprint:
        keyed.append(subjects.token(a.fingerprint))
    marks = sorted(classify.refusal_marks(a, frozenset()) - {"quota"}) or ["refused"]
    out = []
    for subject in sorted(keyed, key=lambda x: x.key):  # one lock order: no deadlock
        subjects.lock(conn, subject, a.at, s)
        record.seen(conn, subject.key, a.at, a.address, None, s.d8_window_s)
        record.count(conn, subject.key, minute(a.at), {"accesses": 1, "unauthenticated": 1})
        record.sample(conn, subject.key, a.at, a.access_id, marks)
        rule = D7 if subject.key.startswith("token:") else D6
        out.append(Work(subject, {rule}))
    return out


def sign_in(conn: Connection, i: SignIn, s: DetectionSettings) -> list[Work]:
    """A token issued (the address credentials came from) or a failed sign-in."""
    if i.principal_kind in NOT_WATCHED:
        return []
    if i.principal_id is None:  # a failed sign-in naming no known client: its address
        subject = subjects.address(i.address)
        subjects.lock(conn, subject, i.at, s)
        record.seen(conn, subject.key, i.at, i.address, None, s.d8_window_s)
        record.count(conn, subject.key, minute(i.at), {"auth_failures": 1})
        return [Work(subject, {D6})]
    subject = subjects.principal(i.principal_kind, i.principal_id)
    subjects.lock(conn, subject, i.at, s)
    work = Work(subject)
    if i.failed:
        # A failed attempt is not the principal's own address: it is not remembered as used.
        record.count(conn, subject.key, minute(i.at), {"auth_failures": 1})
        work.due.add(D5)
        return [work]
    seen = record.seen(conn, subject.key, i.at, i.address, None, s.d8_window_s)
    _judge_links(conn, work, seen, i.at, s)
    return [work]


def _judge_links(
    conn: Connection, work: Work, seen: record.Seen, at: datetime, s: DetectionSettings
) -> None:
    """A new address makes D8 count addresses; a new pair shared with a contained principal, D9."""
    if seen.new_address:
        work.due.add(D8)
    # Only a shared address: a user agent alone is a weak link (honest clients share versions),
    # good enough to list on a finding, not to throttle a newcomer on.
    addresses = tuple(pair for pair in seen.new_pairs if pair[0] == "address")
    if addresses:
        work.contained_links = links.contained_links(conn, work.subject.key, addresses, at, s)
        if work.contained_links:
            work.due.add(D9)
