"""Property: over random grants, token scopes and queries, nothing leaves beyond the grants.

Hypothesis draws a principal (mostly connectors: a random grant per practitioner and a random
scope set on the token, appointment:read-medical included or not) and a few random requests
(reads, searches with random filters and page sizes, bookings, status changes). Whatever the
answer, two promises of docs/booking.md must hold:

- no medical element (any element classes.py classes medical, or the text of any reason for
  visit) leaves booking unless the principal holds appointment:read-medical on that agenda;
- a connector never receives an appointment of a practitioner outside its read grant.

Every appointment has a reason of its own, so a reason found anywhere in a response names
exactly which appointment leaked. Examples are few and derandomized (one world per module).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.booking.classes import APPOINTMENT_ELEMENTS, MEDICAL
from tests.integration.booking.world import World
from tests.security.reach_rules import PRACTITIONERS, A, B
from tests.security.reach_world import FHIR, bundle_resources, connector_token
from tests.support.people import SCOPES
from tests.support.stack import ADMIN_TOKEN

READ, WRITE, READ_MEDICAL = SCOPES
MEDICAL_ELEMENTS = frozenset(k for k, v in APPOINTMENT_ELEMENTS.items() if v == MEDICAL)
# Grants a practitioner can give (identity refuses read-medical without read).
GRANTS: tuple[tuple[str, ...], ...] = (
    (),
    (READ,),
    (READ, READ_MEDICAL),
    (WRITE,),
    (READ, WRITE),
    (READ, WRITE, READ_MEDICAL),
)
TOKEN_SCOPES = st.sets(st.sampled_from(SCOPES), min_size=1).map(lambda s: tuple(sorted(s)))


@dataclass
class PropertyWorld:
    """Three practitioners, two patients, appointments with a reason of their own each."""

    world: World
    practitioners: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    appointments: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (P, patient)
    reasons: dict[str, str] = field(default_factory=dict)  # reason text -> appointment id
    pools: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[Any, str] = field(default_factory=dict)

    def build(self) -> PropertyWorld:
        w = self.world
        self.practitioners = {x: w.practitioner() for x in PRACTITIONERS}
        self.patients = {A: w.patient(), B: w.patient()}
        for x, pid in self.practitioners.items():
            slots = w.open_slots(pid, count=4, days_ahead=2)
            for slot, patient in zip(slots, (A, B, A, B), strict=True):
                self.book(ADMIN_TOKEN, x, slot, patient)
            self.pools[x] = w.open_slots(pid, count=90, days_ahead=5)
        return self

    def book(self, token: str, x: str, slot: str, patient: str) -> requests.Response:
        """Book with a reason no other appointment has; remember whose it is."""
        reason = f"reason-{uuid.uuid4().hex}"
        r = self.world.book(token, slot, self.patients[patient], reason)
        if r.status_code == 201:
            appointment_id = r.headers["Location"].rsplit("/", 1)[-1]
            self.appointments[appointment_id] = (x, patient)
            self.reasons[reason] = appointment_id
        return r

    def token_for(self, principal: tuple[Any, ...]) -> str:
        """One token per drawn principal (cached: sign-ins cost an argon2 verification)."""
        if principal not in self.tokens:
            kind = principal[0]
            if kind == "connector":
                grants, scopes = principal[1], principal[2]
                # Identity issues only scopes some grant backs (#18): asking for others is
                # refused, so such a connector can hold no token of these scopes.
                backed = [s for s in scopes if any(s in g for g in grants)]
                assume(backed)
                c = self.world.connector(
                    {
                        self.practitioners[x]: list(g)
                        for x, g in zip(PRACTITIONERS, grants, strict=True)
                        if g
                    }
                )
                self.tokens[principal] = connector_token(self.world, c, " ".join(backed))
            elif kind == "practitioner":
                pid = self.practitioners[principal[1]]
                self.tokens[principal] = self.world.person_token(pid, " ".join(principal[2]))
            elif kind == "patient":
                self.tokens[principal] = self.world.person_token(self.patients[principal[1]])
            else:
                self.tokens[principal] = ADMIN_TOKEN
        return self.tokens[principal]


def may_read(principal: tuple[Any, ...], x: str, patient: str) -> bool:
    """docs/booking.md "Reach": who reads an appointment of `patient` with practitioner `x`."""
    kind = principal[0]
    if kind == "connector":
        grant, scopes = principal[1][PRACTITIONERS.index(x)], principal[2]
        return READ in grant and READ in scopes
    if kind == "practitioner":
        return principal[1] == x and READ in principal[2]
    if kind == "patient":
        return principal[1] == patient
    return True  # staff admin


def may_read_medical(principal: tuple[Any, ...], x: str, patient: str) -> bool:
    """... and with its medical fields: appointment:read-medical on that agenda, or the patient."""
    kind = principal[0]
    if kind == "connector":
        grant, scopes = principal[1][PRACTITIONERS.index(x)], principal[2]
        return may_read(principal, x, patient) and READ_MEDICAL in grant and READ_MEDICAL in scopes
    if kind == "practitioner":
        return may_read(principal, x, patient) and READ_MEDICAL in principal[2]
    if kind == "patient":
        return principal[1] == patient
    return False  # staff admin: never medical


def _principal(kind: str) -> st.SearchStrategy[tuple[Any, ...]]:
    """A principal of `kind`, as a hashable tuple (tokens are cached by it)."""
    if kind == "connector":
        grants = st.tuples(*(st.sampled_from(GRANTS) for _ in PRACTITIONERS))
        return st.tuples(st.just(kind), grants, TOKEN_SCOPES)
    if kind == "practitioner":
        return st.tuples(st.just(kind), st.sampled_from(PRACTITIONERS), TOKEN_SCOPES)
    if kind == "patient":
        return st.tuples(st.just(kind), st.sampled_from((A, B)))
    return st.just((kind,))


# Connectors half the time: the connector interface is where the seed incident went through.
principals = st.sampled_from(
    ("connector", "connector", "connector", "practitioner", "patient", "staff_admin")
).flatmap(_principal)
searches = st.tuples(
    st.just("search"),
    st.sets(st.sampled_from(PRACTITIONERS), max_size=3),
    st.sampled_from((None, A, B)),
    st.sampled_from((None, "booked", "cancelled", "booked,cancelled")),
    st.integers(min_value=1, max_value=100),
)
queries = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(min_value=0, max_value=10_000)),
        searches,
        st.tuples(st.just("book"), st.sampled_from(PRACTITIONERS), st.sampled_from((A, B))),
        st.tuples(
            st.just("patch"),
            st.sampled_from(PRACTITIONERS),
            st.sampled_from(("cancelled", "arrived")),
        ),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def property_world(migrated_database_url: str, module_broker: str) -> Iterator[PropertyWorld]:
    """One world for every example (building principals per example would take minutes)."""
    world = World(migrated_database_url, module_broker).start()
    try:
        yield PropertyWorld(world).build()
    finally:
        world.close()


def _run(pw: PropertyWorld, token: str, query: tuple[Any, ...]) -> requests.Response:
    """One drawn request against booking."""
    w = pw.world
    if query[0] == "read":
        ids = sorted(pw.appointments)
        return w.request("GET", f"/fhir/Appointment/{ids[query[1] % len(ids)]}", token)
    if query[0] == "search":
        _, xs, patient, status, count = query
        params = [("practitioner", pw.practitioners[x]) for x in sorted(xs)]
        params += [("patient", pw.patients[patient])] if patient else []
        params += [("status", status)] if status else []
        return w.request("GET", "/fhir/Appointment", token, params=[*params, ("_count", count)])
    x = query[1]
    if query[0] == "book":
        return pw.book(token, x, pw.pools[x].pop(), query[2])
    fresh = pw.book(ADMIN_TOKEN, x, pw.pools[x].pop(), A)
    assert fresh.status_code == 201, fresh.text
    ops = [{"op": "replace", "path": "/status", "value": query[2]}]
    headers = {"Content-Type": "application/json-patch+json"}
    return w.request(
        "PATCH", fresh.headers["Location"].removeprefix(w.base), token, json=ops, headers=headers
    )


def _appointments_in(r: requests.Response) -> list[dict[str, Any]]:
    if not r.content or not r.headers.get("Content-Type", "").startswith(FHIR):
        return []
    body = r.json()
    if body.get("resourceType") == "Bundle":
        return bundle_resources(r)
    return [body] if body.get("resourceType") == "Appointment" else []


def _check(pw: PropertyWorld, principal: tuple[Any, ...], r: requests.Response) -> None:
    """The two promises, on whatever came back (refusals included)."""
    assert r.status_code < 500, r.text
    for reason, appointment_id in pw.reasons.items():
        if reason in r.text:
            x, patient = pw.appointments[appointment_id]
            assert may_read_medical(principal, x, patient), (principal, appointment_id)
    for resource in _appointments_in(r):
        x, patient = pw.appointments[resource["id"]]
        assert may_read(principal, x, patient), (principal, resource["id"])
        medical = MEDICAL_ELEMENTS & resource.keys()
        if not may_read_medical(principal, x, patient):
            assert not medical, (principal, resource["id"], medical)
        else:  # and the property is not vacuous: allowed medical fields do come back
            assert "reasonCode" in medical, (principal, resource["id"])


@settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(principal=principals, asked=queries)
def test_no_medical_field_or_foreign_agenda_leaves(
    property_world: PropertyWorld, principal: tuple[Any, ...], asked: list[tuple[Any, ...]]
) -> None:
    token = property_world.token_for(principal)
    for query in asked:
        _check(property_world, principal, _run(property_world, token, query))
