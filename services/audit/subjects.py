"""An incident's subjects: read, checked against the ledger, and turned into one exact scope.

A subject is a connector, any principal, a source network address or a vendor (IncidentOpened
V3). The scope is the union of their access records: a record is in it when its connector is a
subject's (a vendor stands for every connector registered with it), its principal is a subject,
or it came from a subject's address. One SQL condition selects the union, so a record two
subjects share is counted once in the total; `Scope.matches` says which subjects each record
belongs to, for the per-subject figures.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from contracts.audit_containment import MAX_SUBJECTS, SUBJECT_KINDS
from services.audit.ledger import Connection
from services.common.errors import Invalid, NotFound

# Who an id is: identity's registrations in the ledger (event type -> id field, kind), else
# the kind its access records give it. Type lists are literals (code constants, never input),
# so the ledger's partial index `ledger_subjects_idx` (migration 0020) provably serves them.
REGISTRATIONS = {
    "ConnectorRegistered": ("connector_id", "connector"),
    "PatientRegistered": ("patient_id", "patient"),
    "PractitionerRegistered": ("practitioner_id", "practitioner"),
    "StaffRegistered": ("staff_id", "staff"),
}
_CONNECTORS = """
SELECT payload ->> 'connector_id', 'ConnectorRegistered', payload ->> 'name', payload ->> 'vendor'
  FROM audit.ledger
 WHERE event_type IN ('ConnectorRegistered') AND payload ->> 'connector_id' = ANY(%s)
"""
# The kind its latest record gives a principal (one index probe each), or connector.
_SEEN = """
SELECT i.id,
       coalesce((SELECT r.principal_kind FROM audit.access_requests r WHERE r.principal_id = i.id
                  ORDER BY r.occurred_at DESC LIMIT 1),
                (SELECT 'connector' FROM audit.access_requests r WHERE r.connector_id = i.id
                  LIMIT 1))
  FROM unnest(%s::uuid[]) AS i(id)
"""
# People never seen in a record: the rare path, a scan of the people's registrations.
_PEOPLE = f"""
SELECT id, event_type, NULL, NULL FROM (
  SELECT coalesce(payload ->> 'patient_id', payload ->> 'practitioner_id',
                  payload ->> 'staff_id') AS id, event_type
    FROM audit.ledger
   WHERE event_type IN ({", ".join(f"'{t}'" for t in list(REGISTRATIONS)[1:])})) x
 WHERE id = ANY(%s)
"""
_VENDOR = """
SELECT payload ->> 'connector_id', payload ->> 'name' FROM audit.ledger
 WHERE event_type IN ('ConnectorRegistered') AND lower(payload ->> 'vendor') = lower(%s)
 ORDER BY seq
"""


@dataclass(frozen=True)
class Subject:
    """One subject as an incident names it: its kind and its normalised value."""

    kind: str
    value: str

    def as_dict(self) -> dict[str, str]:
        """As IncidentOpened V3 carries it."""
        return {"kind": self.kind, "value": self.value}

    @property
    def key(self) -> str:
        """`kind:value`: how the report says which subjects a line belongs to."""
        return f"{self.kind}:{self.value}"


def _normalised(kind: str, value: Any) -> str:
    """The subject's value in one spelling, or 400 saying what it should be."""
    text = str(value).strip() if value is not None else ""
    if kind in ("connector", "principal"):
        try:
            return str(UUID(text))
        except ValueError:
            raise Invalid(f"a {kind} subject's value must be a UUID") from None
    if kind == "address":
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            raise Invalid("an address subject's value must be an IP address") from None
    if not 1 <= len(text) <= 200:
        raise Invalid("a vendor subject's value must be 1 to 200 characters")
    return text


def parse(raw: Iterable[Mapping[str, Any]]) -> list[Subject]:
    """Subjects as given (kind, value), normalised and deduplicated in order; 400 if malformed."""
    out: dict[Subject, None] = {}
    for item in raw:
        kind = item.get("kind")
        if kind not in SUBJECT_KINDS:
            raise Invalid(f"a subject's kind is one of {', '.join(SUBJECT_KINDS)}")
        out[Subject(str(kind), _normalised(str(kind), item.get("value")))] = None
    if not out:
        raise Invalid("an incident needs at least one subject")
    if len(out) > MAX_SUBJECTS:
        raise Invalid(f"an incident names at most {MAX_SUBJECTS} subjects")
    return list(out)


@dataclass(frozen=True)
class Resolved:
    """A subject with what the ledger says about it: its kind of principal, its connectors."""

    subject: Subject
    label: str
    principal_kind: str | None = None
    connector_ids: tuple[UUID, ...] = ()
    addresses: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """For the report: the subject, how it reads, and what it stood for."""
        return {
            **self.subject.as_dict(),
            "key": self.subject.key,
            "label": self.label,
            "principal_kind": self.principal_kind,
            "connector_ids": [str(c) for c in self.connector_ids],
        }

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether an access record (principal_id, connector_id, network_address) is this one's."""
        if self.subject.kind == "principal":
            return str(row.get("principal_id")) == self.subject.value
        if self.subject.kind == "address":
            return row.get("network_address") in self.addresses
        return row.get("connector_id") is not None and row["connector_id"] in self.connector_ids


@dataclass(frozen=True)
class Scope:
    """The union of the subjects' access records, as one SQL condition and a row matcher."""

    subjects: tuple[Resolved, ...]
    connectors: list[UUID] = field(default_factory=list)
    principals: list[UUID] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, resolved: Sequence[Resolved]) -> Scope:
        """The scope of these resolved subjects."""
        principals = [UUID(r.subject.value) for r in resolved if r.subject.kind == "principal"]
        return cls(
            tuple(resolved),
            connectors=list(dict.fromkeys(c for r in resolved for c in r.connector_ids)),
            principals=list(dict.fromkeys(principals)),
            addresses=list(dict.fromkeys(a for r in resolved for a in r.addresses)),
        )

    @classmethod
    def of_connector(cls, connector_id: UUID) -> Scope:
        """One connector taken as known (tooling that made it, e.g. a benchmark's world)."""
        subject = Subject("connector", str(connector_id))
        return cls.of([Resolved(subject, label("connector", subject.value), "connector",
                                (connector_id,))])  # fmt: skip

    def where(self, alias: str = "r") -> str:
        """The condition on access_requests `alias`; its parameters are `params()`.

        A plain OR of indexed columns, so the planner can use each column's index; it is NULL
        (not false) for a record with none of them: wrap it in coalesce before negating it.
        """
        return (
            f"({alias}.connector_id = ANY(%(scope_connectors)s)"
            f" OR {alias}.principal_id = ANY(%(scope_principals)s)"
            f" OR {alias}.network_address = ANY(%(scope_addresses)s))"
        )

    def params(self) -> dict[str, Any]:
        """The condition's parameters."""
        return {
            "scope_connectors": self.connectors,
            "scope_principals": self.principals,
            "scope_addresses": self.addresses,
        }

    def matches(self, row: Mapping[str, Any]) -> list[int]:
        """The indexes of the subjects an access record belongs to (empty: not in scope)."""
        return [i for i, r in enumerate(self.subjects) if r.matches(row)]


def _spellings(address: str) -> tuple[str, ...]:
    """An address as booking may have recorded it (as the client's socket gave it): compressed,
    or, for IPv6, exploded."""
    ip = ipaddress.ip_address(address)
    return tuple(dict.fromkeys((ip.compressed, ip.exploded)))


def describe(conn: Connection, ids: list[str]) -> dict[str, tuple[str, str | None, str | None]]:
    """Known ids: the kind each was registered as (else last seen as), connector name, vendor."""
    if not ids:
        return {}
    found = {
        row[0]: (REGISTRATIONS[row[1]][1], row[2], row[3])
        for row in conn.execute(_CONNECTORS, (ids,)).fetchall()
    }
    missing = [UUID(i) for i in ids if i not in found]
    for pid, kind in conn.execute(_SEEN, (missing,)).fetchall() if missing else ():
        if kind is not None:
            found[str(pid)] = (kind, None, None)
    missing = [i for i in ids if i not in found]
    for row in conn.execute(_PEOPLE, (missing,)).fetchall() if missing else ():
        found[row[0]] = (REGISTRATIONS[row[1]][1], None, None)
    return found


def label(kind: str, value: str, name: str | None = None, vendor: str | None = None) -> str:
    """How a principal reads in a report: its kind and id, a connector's name and vendor."""
    return f"{kind} {value}" + (f" ({name}, {vendor})" if name else "")


def resolve(conn: Connection, subjects: Sequence[Subject], strict: bool = True) -> Scope:
    """The subjects resolved against the ledger and the index; 404 (strict) for one unknown.

    A connector is known once registered or seen in an access record, a principal likewise; a
    vendor needs at least one registered connector. An address needs nothing: no record from it
    is an answer. Not strict (a stored incident's report), an unknown subject matches nothing.
    """
    ids = [s.value for s in subjects if s.kind in ("connector", "principal")]
    known = describe(conn, ids)
    out = []
    for s in subjects:
        if s.kind == "address":
            out.append(Resolved(s, f"network address {s.value}", addresses=_spellings(s.value)))
        elif s.kind == "vendor":
            rows = conn.execute(_VENDOR, (s.value,)).fetchall()
            if not rows and strict:
                raise NotFound(f"no connector is registered with vendor {s.value!r}")
            connectors = tuple(dict.fromkeys(UUID(r[0]) for r in rows))
            named = f"vendor {s.value} ({len(connectors)} connectors)"
            out.append(Resolved(s, named, "connector", connectors))
        else:
            kind, name, vendor = known.get(s.value, (None, None, None))
            if kind is None or (s.kind == "connector" and kind != "connector"):
                if strict:
                    raise NotFound(f"no such {s.kind}: {s.value}")
                kind = "unknown"
            connectors = (UUID(s.value),) if s.kind == "connector" else ()
            out.append(Resolved(s, label(kind, s.value, name, vendor), kind, connectors))
    return Scope.of(out)
