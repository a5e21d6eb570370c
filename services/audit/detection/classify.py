"""Which reads the sync contract explains, pure: one appointment served, or one refusal.

A partner reads each granted agenda once over the horizon (its first sync), then what changed.
So a read is explained when it is a first read within the horizon, or a delta (the appointment
changed since this principal last read it, or just before: a delta's overlap), or a first
sync of an agenda granted since. What is left is a re-read (D1, D2) or a read into the past
(D3). People read their own data as they like; a read of someone else's is beyond reach (D4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from services.audit.detection.observe import Access
from services.audit.detection.settings import DetectionSettings

# Who is bound by the sync contract, whose every read needs a reason, who reads its own data.
SYNCING = ("connector",)
UNEXPLAINED = ("staff",)  # no agenda of its own: every read counts as one no sync explains
OWN_DATA = ("patient", "practitioner")
# The appointment a write returns (POST or PATCH with return=representation): the principal's
# own change echoed back, explained by the write itself.
WRITES = ("create", "update")


@dataclass(frozen=True)
class Prior:
    """What audit knew of one served appointment before this read (state.reads)."""

    appointment_id: UUID
    patient_id: UUID | None
    practitioner_id: UUID | None
    last_read_at: datetime | None = None  # this principal's previous read, within memory
    start_at: datetime | None = None  # None: booking's event not consumed yet
    changed_at: datetime | None = None
    granted_at: datetime | None = None  # the connector's grant on this agenda, if any
    grant_ended_at: datetime | None = None  # revoked or expired; None while it holds


def read_marks(
    kind: str,
    principal: UUID | None,
    p: Prior,
    at: datetime,
    s: DetectionSettings,
    operation: str = "read",
) -> frozenset[str]:
    """The marks one served appointment earns: reread, deep, beyond (or none: explained)."""
    marks = {"beyond"} if beyond_reach(kind, principal, p, at, s) else set()
    if operation in WRITES:
        return frozenset(marks)  # its own change echoed back: only whose it was counts
    if kind in SYNCING:
        if rereads_unchanged(p, s):
            marks.add("reread")
        elif older_than_horizon(p, at, s):
            marks.add("deep")
    elif kind in UNEXPLAINED:
        marks.add("reread")
        if older_than_horizon(p, at, s):
            marks.add("deep")
    return frozenset(marks)


def beyond_reach(
    kind: str, principal: UUID | None, p: Prior, at: datetime, s: DetectionSettings
) -> bool:
    """Served something that was not the principal's to read (a flaw somewhere)."""
    if kind in SYNCING:
        return served_after_grant_ended(p, at, s)
    if kind == "patient":
        return p.patient_id is not None and p.patient_id != principal
    if kind == "practitioner":
        return p.practitioner_id not in (None, principal)
    return False


def rereads_unchanged(p: Prior, s: DetectionSettings) -> bool:
    """Read before, and neither changed since (nor just before: a delta's overlap) nor granted
    anew since (a re-granted agenda is synced again by contract)."""
    if p.last_read_at is None:
        return False
    overlap = p.last_read_at - timedelta(seconds=s.detection_overlap_s)
    if p.changed_at is not None and p.changed_at > overlap:
        return False
    return not (p.granted_at is not None and p.granted_at > p.last_read_at)


def older_than_horizon(p: Prior, at: datetime, s: DetectionSettings) -> bool:
    """It started before the horizon and did not change within it (then it is a delta)."""
    horizon = at - timedelta(seconds=s.detection_horizon_s)
    if p.start_at is None or p.start_at >= horizon:
        return False
    return p.changed_at is None or p.changed_at < horizon


def served_after_grant_ended(p: Prior, at: datetime, s: DetectionSettings) -> bool:
    """Booking served an agenda whose grant audit saw end a while ago: beyond the grants.

    An agenda audit has never seen granted is not judged: identity's grant and booking's read
    travel on different queues, and the grant may simply not have arrived yet.
    """
    if p.grant_ended_at is None:
        return False
    return p.grant_ended_at < at - timedelta(seconds=s.detection_grant_lag_s)


def refusal_marks(a: Access, granted_ever: frozenset[UUID]) -> frozenset[str]:
    """What a refusal counts for: probing (refused), outside the grants, a refused token, or
    over quota (D10 only).

    Quota refusals are the quota working, not probing: they count only for asking past 429.
    A connector refused on agendas it holds or held a grant for is an honest partner whose
    grant ended or whose token predates it.
    """
    code = a.denial_code
    if code == "quota":
        return frozenset({"quota"})
    if code == "unauthenticated":
        known = a.principal_id is not None
        return frozenset({"unauthenticated", "refused"} if known else {"unauthenticated"})
    if code == "reach":
        aimed = {t.practitioner_id for t in a.targets if t.practitioner_id} | set(a.asked)
        if a.principal_kind in SYNCING and aimed and aimed <= granted_ever:
            return frozenset({"stale"})
        return frozenset({"refused", "outside"})
    return frozenset({"refused"})


def aimed_practitioners(a: Access) -> tuple[UUID, ...]:
    """The agendas a refused read aimed at: its targets' and its query's practitioners."""
    found = [t.practitioner_id for t in a.targets if t.practitioner_id] + list(a.asked)
    return tuple(dict.fromkeys(found))
