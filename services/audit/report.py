"""An incident report: GDPR Art. 33(3) items pre-filled from the ledger, as JSON, Markdown, CSV.

Everything stated comes from the affected set and the containment timeline; what only a
person can know (the DPO's contact, the assessment, the measures still to take) is marked
`TO COMPLETE` and listed in `to_complete`, so a draft is never mistaken for a finished notice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

TO_COMPLETE = "TO COMPLETE"
DEADLINE = timedelta(hours=72)
CONSEQUENCES = {
    "administrative": (
        "names, contact details, dates and practitioners of appointments: risk of targeted "
        "phishing or fraud calls using credible appointment details, and of unwanted contact"
    ),
    "sensitive": (
        "practitioner specialty and type of consultation: may reveal or suggest a health "
        "condition (special category data, Art. 9)"
    ),
    "medical": (
        "reasons for visit and notes: disclosure of health data (Art. 9), high risk to the "
        "persons concerned"
    ),
}


def art33(
    incident: Mapping[str, Any],
    affected: Mapping[str, Any],
    timeline: list[dict[str, Any]],
    regulator_prepared_at: str | None,
) -> dict[str, Any]:
    """The Art. 33(3) items, each pre-filled where the ledger knows it."""
    aware = datetime.fromisoformat(incident["aware_at"])
    deadline = aware + DEADLINE
    classes = affected["field_classes"]
    medical = affected["medical_decrypted"]
    prepared = datetime.fromisoformat(regulator_prepared_at) if regulator_prepared_at else None
    who = affected["subject"]["connector_id"] or affected["subject"]["principal_id"]
    measures = [
        f"{step['at']}: {step['event_type']}"
        + (f" (rule {step['rule']})" if step.get("rule") else "")
        + (
            f" — {step['revoked_token_ids']} tokens revoked"
            if step.get("revoked_token_ids")
            else ""
        )
        for step in timeline
    ]
    return {
        "nature": (
            f"Unauthorised read access to appointment data through the credentials of "
            f"connector {who}"
            f", {affected['served_requests']} successful requests and "
            f"{affected['denied_requests']} refused ones between {affected['first_access_at']}"
            f" and {affected['last_access_at']}, from {', '.join(affected['network_addresses'])}."
        ),
        "categories_of_data_subjects": ["patients"],
        "approximate_number_of_data_subjects": affected["patient_count"],
        "categories_of_personal_data_records": classes,
        "approximate_number_of_records": affected["appointment_count"],
        "medical_fields_returned": "yes" if medical else "none",
        "likely_consequences": {c: CONSEQUENCES[c] for c in classes if c in CONSEQUENCES},
        "measures_taken": measures or [TO_COMPLETE],
        "measures_proposed": TO_COMPLETE,
        "dpo_contact": TO_COMPLETE,
        "aware_at": aware.isoformat(),
        "notification_deadline": deadline.isoformat(),
        "regulator_notice_prepared_at": prepared.isoformat() if prepared else None,
        "regulator_notice_within_deadline": (prepared <= deadline) if prepared else None,
    }


def to_complete(items: Mapping[str, Any]) -> list[str]:
    """The items a person must still fill in."""
    return sorted(k for k, v in items.items() if v == TO_COMPLETE or v == [TO_COMPLETE])


def markdown(report: Mapping[str, Any]) -> str:
    """The report for people: summary, Art. 33 items, what must be completed, first rows."""
    a, items, inc = report["affected"], report["art33"], report["incident"]
    lines = [
        f"# Incident {inc['incident_id']}: {inc['title']}",
        "",
        f"- Window: {a['window']['start']} → {a['window']['end']}",
        f"- Aware at: {items['aware_at']}; Art. 33 deadline: {items['notification_deadline']}",
        f"- Requests: {a['requests']} ({a['served_requests']} served, "
        f"{a['denied_requests']} refused)",
        f"- Appointments exposed: {a['appointment_count']}; patients: {a['patient_count']}",
        f"- Field classes returned: {', '.join(a['field_classes']) or 'none'}",
        f"- Medical fields returned: {items['medical_fields_returned']}",
        f"- First / last read: {a['first_read_at']} / {a['last_read_at']}",
        "",
        "## GDPR Art. 33(3)",
        "",
        f"**(a) Nature.** {items['nature']} Data subjects: patients, "
        f"{items['approximate_number_of_data_subjects']}; records: "
        f"{items['approximate_number_of_records']} appointments.",
        f"**(b) DPO contact.** {items['dpo_contact']}",
        "**(c) Likely consequences.**",
        *[f"- {c}: {text}" for c, text in items["likely_consequences"].items()],
        "**(d) Measures taken.**",
        *[f"- {m}" for m in items["measures_taken"]],
        f"Measures proposed: {items['measures_proposed']}",
        "",
        f"To complete by a person: {', '.join(report['to_complete']) or 'nothing'}.",
        "",
        "## First exposed appointments",
        "",
        "| appointment | patient | first read | classes |",
        "|---|---|---|---|",
        *[
            f"| {x['appointment_id']} | {x['patient_id']} | {x['first_read_at']} | "
            f"{', '.join(x['field_classes'])} |"
            for x in a["appointments"][:20]
        ],
    ]
    if a["appointment_count"] > 20:
        lines.append(f"| … {a['appointment_count'] - 20} more in the JSON report | | | |")
    return "\n".join(lines) + "\n"


def patients_csv(report: Mapping[str, Any]) -> str:
    """One row per affected patient: ids, appointment count, classes, exposure period."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "patient_id",
            "appointments",
            "field_classes",
            "medical_decrypted",
            "first_access_at",
            "last_access_at",
        ]
    )
    for p in report["affected"]["patients"]:
        writer.writerow(
            [
                p["patient_id"],
                len(p["appointment_ids"]),
                " ".join(p["field_classes"]),
                str(p["medical_decrypted"]).lower(),
                p["first_access_at"],
                p["last_access_at"],
            ]
        )
    return out.getvalue()
