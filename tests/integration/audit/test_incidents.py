"""Incidents over a set of subjects, exact in total and per subject, right for any principal.

The ledger is incident_story's: given those records, findings and measures, when an incident
is opened over these subjects, then the report says exactly this.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from services.audit import incidents, report_text, trace
from services.audit.subjects import Subject, parse
from services.cli.main import cli
from services.common.errors import Invalid, NotFound
from services.common.eventstore.store import EventStore
from tests.integration.audit.incident_story import (
    ADDRESS,
    FINGERPRINT,
    HOME,
    VENDOR,
    Story,
    at,
    build,
)
from tests.support.ledger import Ledger

OPERATOR = uuid.uuid4()


@pytest.fixture
def story(world) -> Story:
    return build(Ledger(world.pool))


def open_report(world, *subjects: tuple[str, str]) -> dict[str, Any]:
    """Open an incident over [at(0), at(20)) for these (kind, value) subjects; its report."""
    named = parse({"kind": k, "value": v} for k, v in subjects)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        incident_id = incidents.open_incident(
            conn, EventStore(world.pool, "audit"), opened_by=OPERATOR, title="t",
            subjects=named, start=at(0), end=at(20), aware_at=at(30),
        )  # fmt: skip
        return incidents.build_report(conn, incident_id)


def ids(values: Any, story: Story, kind: str = "appointments") -> set[str]:
    """Appointments (or patients) by their index in the story."""
    return {getattr(story, kind)[i] for i in values}


def subject(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in report["affected"]["per_subject"] if s["key"] == key)


def test_two_connectors_from_one_address_union_exact_per_subject_exact(world, story):
    report = open_report(world, ("connector", story.c1), ("connector", story.c2))
    a = report["affected"]
    assert {x["appointment_id"] for x in a["appointments"]} == ids(range(5), story)
    assert {p["patient_id"] for p in a["patients"]} == ids(range(5), story, "patients")
    assert (a["appointment_count"], a["patient_count"]) == (5, 5)  # A3 read by both: once
    assert (a["requests"], a["served_requests"], a["denied_requests"]) == (4, 3, 1)
    one, two = subject(report, f"connector:{story.c1}"), subject(report, f"connector:{story.c2}")
    assert set(one["appointment_ids"]) == ids(range(4), story) and one["requests"] == 2
    assert set(two["appointment_ids"]) == ids((3, 4), story) and two["denied_requests"] == 1
    assert one["principal_kind"] == two["principal_kind"] == "connector"
    assert "Agenda" in one["label"] and one["label"].startswith("connector ")
    a3 = next(x for x in a["appointments"] if x["appointment_id"] == story.appointments[3])
    assert a3["reads"] == 2 and len(a3["subjects"]) == 2
    # The refused read is an attempt with its target, not exposure.
    attempts = report["attempts"]
    assert attempts["count"] == 1 and attempts["by_code"] == {"reach": 1}
    assert attempts["items"][0]["targets"][0]["patient_id"] == story.patients[5]
    assert story.appointments[5] not in {x["appointment_id"] for x in a["appointments"]}
    # Related: the refused token and the other vendor's connector came from the same address.
    related = {p["value"]: p for p in report["related"]["principals"]}
    assert set(related) == {FINGERPRINT, story.c4}
    assert related[story.c4]["shared_addresses"] == [ADDRESS]
    assert related[story.c4]["label"] == f"connector {story.c4} (Agenda {story.c4[:4]}, Other)"
    assert related[story.c4]["suggested_subject"] == {"kind": "connector", "value": story.c4}
    assert (related[story.c4]["requests"], related[story.c4]["appointment_count"]) == (2, 2)
    assert related[FINGERPRINT]["suggested_subject"] == {"kind": "address", "value": ADDRESS}
    assert report["art33"]["approximate_number_of_data_subjects"] == 5


def test_the_containment_list_has_every_finding_and_measure_in_time_order(world, story):
    report = open_report(world, ("connector", story.c1), ("connector", story.c2))
    steps = [(s["event_type"], s["principal_id"], s["relation"]) for s in report["containment"]]
    assert steps == [
        ("SuspiciousAccessDetected", story.c1, "subject"),  # V2, upcast
        ("SuspiciousAccessDetected", story.c2, "subject"),
        ("ConnectorSuspended", story.c1, "subject"),
        ("QuotaSet", story.c2, "subject"),  # the throttle; the operator's quota is not listed
        ("SuspiciousAccessDetected", story.c3, "linked"),  # names c2 among its linked
    ]
    assert [s["at"] for s in report["containment"]] == sorted(
        s["at"] for s in report["containment"]
    )
    assert report["containment"][0]["principal_kind"] == "connector"
    assert report["containment"][3]["reason"] == "throttle"
    assert any("ConnectorSuspended on connector" in m for m in report["art33"]["measures_taken"])


def test_an_address_subject_covers_everyone_who_used_it(world, story):
    report = open_report(world, ("address", ADDRESS))
    a = report["affected"]
    assert (a["requests"], a["served_requests"], a["appointment_count"]) == (6, 4, 5)
    kinds = {p["principal_kind"] for p in a["per_subject"][0]["principals"]}
    assert kinds == {"connector", "unknown"}
    assert report["attempts"]["by_code"] == {"reach": 1, "unauthenticated": 1}
    assert report["attempts"]["token_fingerprints"] == [FINGERPRINT]
    # Honest connectors sharing a user agent with the scope are related, not in it.
    assert {p["value"] for p in report["related"]["principals"]} == {story.c3, story.c4}
    assert a["per_subject"][0]["label"] == f"network address {ADDRESS}"
    relations = {(s["principal_id"], s["relation"]) for s in report["containment"]}
    assert (story.c3, "address") in relations and (story.c1, "subject") in relations


def test_a_vendor_subject_is_its_connectors_and_overlaps_count_once(world, story):
    by_vendor = open_report(world, ("vendor", VENDOR.lower()))
    by_ids = open_report(world, ("connector", story.c1), ("connector", story.c2))
    assert by_vendor["affected"]["per_subject"][0]["connector_ids"] == [story.c1, story.c2]
    for key in ("appointment_count", "patient_count", "requests", "denied_requests"):
        assert by_vendor["affected"][key] == by_ids["affected"][key]
    assert [x["appointment_id"] for x in by_vendor["affected"]["appointments"]] == [
        x["appointment_id"] for x in by_ids["affected"]["appointments"]
    ]
    both = open_report(world, ("connector", story.c1), ("address", ADDRESS))
    a = both["affected"]
    per = [s["appointment_count"] for s in a["per_subject"]]
    assert per == [4, 5] and a["appointment_count"] == 5 and a["requests"] == 6


def test_a_patients_own_data_is_never_exposure_and_its_probes_are_attempts(world, story):
    report = open_report(world, ("principal", story.patient))
    a = report["affected"]
    assert a["per_subject"][0]["principal_kind"] == "patient"
    assert a["per_subject"][0]["label"].startswith("patient ")
    assert "patient" in report["art33"]["nature"] and "connector" not in report["art33"]["nature"]
    assert (a["appointment_count"], a["patient_count"], a["medical_decrypted"]) == (0, 0, False)
    assert a["own_data"] == {"reads": 1, "appointment_ids": [story.own]}
    assert report["art33"]["medical_fields_returned"] == "none"
    attempts = report["attempts"]
    assert attempts["by_code"] == {"not_found": 1, "quota": 1, "reach": 1}
    assert attempts["targeted_patient_count"] == 1
    assert attempts["items"][0]["targets"][0]["appointment_id"] == story.appointments[0]
    steps = [s["event_type"] for s in report["containment"]]
    assert steps == ["SuspiciousAccessDetected", "AccountSuspended", "CredentialsReset"]
    assert report["containment"][1]["principal_kind"] == "patient"
    assert report["related"]["count"] == 0  # nobody else from its home address or browser
    incident = uuid.UUID(report["incident"]["incident_id"])
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        sent = incidents.request_notices(conn, EventStore(world.pool, "audit"), incident, OPERATOR)
        assert sent["notices_requested"] == 0  # no Art. 34 notice about its own appointment
        # The probed patient's access list shows the attempt on their appointment.
        listed = trace.accesses(conn, patient_id=uuid.UUID(story.patients[0]), since=at(0))
    refused = [x for x in listed if x["outcome"] == "denied"]
    assert len(refused) == 1 and refused[0]["denial_code"] == "reach"
    assert refused[0]["targets"] == [
        {"appointment_id": story.appointments[0], "patient_id": story.patients[0],
         "practitioner_id": refused[0]["targets"][0]["practitioner_id"]}
    ]  # fmt: skip
    assert refused[0]["entries"] == [] and refused[0]["who"]["principal_id"] == story.patient
    assert len(listed) == 4  # c1, c3 and c4 read it; the patient account aimed at it


def test_the_markdown_and_csv_show_each_subject_and_the_total(world, story):
    report = open_report(world, ("connector", story.c1), ("connector", story.c2))
    md = report_text.markdown(report)
    for text in ("## Per subject and in total", "**total (union)**", "Refused attempts",
                 "Related activity not in scope", "ConnectorSuspended", FINGERPRINT):  # fmt: skip
        assert text in md
    rows = report_text.patients_csv(report).strip().splitlines()
    assert len(rows) == 1 + 5 and rows[0].endswith(",subjects")
    shared = next(r for r in rows if story.patients[3] in r)
    assert f"connector:{story.c1}" in shared and f"connector:{story.c2}" in shared


def counts(world) -> tuple[int, int]:
    rows = world.sql(
        "SELECT (SELECT count(*) FROM audit.events WHERE event_type = 'IncidentOpened'),"
        " (SELECT count(*) FROM audit.incidents)"
    )
    return rows[0]


@pytest.mark.parametrize(
    ("subjects", "error"),
    [
        ([("connector", "c1"), ("connector", "UNKNOWN")], NotFound),
        ([("principal", "UNKNOWN")], NotFound),
        ([("connector", "patient")], NotFound),  # a patient is not a connector
        ([("vendor", "No Such Vendor")], NotFound),
        ([("address", "not-an-address")], Invalid),
        ([("connector", "not-a-uuid")], Invalid),
        ([], Invalid),
    ],
)
def test_bad_subjects_are_refused_and_nothing_is_written(world, story, subjects, error):
    values = {"c1": story.c1, "UNKNOWN": str(uuid.uuid4()), "patient": story.patient}
    named = [(k, values.get(v, v)) for k, v in subjects]
    with pytest.raises(error):
        open_report(world, *named)
    assert counts(world) == (0, 0)


def test_duplicate_subjects_are_one(world, story):
    upper = story.c1.upper()
    assert parse([{"kind": "connector", "value": upper}, {"kind": "connector", "value": story.c1}])\
        == [Subject("connector", story.c1)]  # fmt: skip
    assert parse([{"kind": "address", "value": "2001:DB8:0::1"}]) == [
        Subject("address", "2001:db8::1")
    ]


def test_the_cli_takes_several_subjects(world, story):
    db = ["--database-url", world.database_url, "--from", at(0).isoformat(),
          "--to", at(20).isoformat()]  # fmt: skip
    run = lambda *a: CliRunner().invoke(cli, ["audit", "investigate", *a, *db])  # noqa: E731
    out = run("--connector", story.c1, "--connector", story.c2, "--address", HOME,
              "--format", "json")  # fmt: skip
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    keys = [s["key"] for s in report["affected"]["per_subject"]]
    assert keys == [f"connector:{story.c1}", f"connector:{story.c2}", f"address:{HOME}"]
    assert report["affected"]["appointment_count"] == 5  # the patient's own read is not exposure
    assert run("--vendor", VENDOR, "--format", "md").exit_code == 0
    unknown = run("--connector", str(uuid.uuid4()))
    assert unknown.exit_code == 2 and "no such connector" in unknown.output
    assert run().exit_code == 2 and run("--address", "nowhere").exit_code == 2
