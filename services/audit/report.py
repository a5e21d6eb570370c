"""An incident report's GDPR Art. 33(3) items, pre-filled from the ledger (JSON).

Everything stated comes from the affected set (its subjects named by kind, the union's figures)
and the containment list; what only a person can know (the DPO's contact, the assessment, the
measures still to take) is marked `TO COMPLETE` and listed in `to_complete`, so a draft is
never mistaken for a finished notice. Markdown and CSV renderings: report_text.py.
"""

from __future__ import annotations

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


def _joined(labels: list[str]) -> str:
    """a, b and c."""
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def measure_line(step: Mapping[str, Any]) -> str:
    """One finding or measure as a sentence: when, what, on whom, why."""
    whom = step.get("principal_id") or step.get("network_address")
    on = f" on {step.get('principal_kind') or 'address'} {whom}" if whom else ""
    facts = [
        f"rule {step['rule']}" if step.get("rule") else "",
        f"recommends {step['recommended_action']}" if step.get("recommended_action") else "",
        f"{step['per_hour']}/h until {step['until']}" if step.get("per_hour") else "",
        f"until {step['until']}" if step.get("until") and not step.get("per_hour") else "",
        {"linked": "links a subject", "address": "at a subject address"}.get(
            step.get("relation") or "", ""
        ),
    ]
    shown = [f for f in facts if f]
    revoked = step.get("revoked_token_ids")
    return (
        f"{step['at']}: {step['event_type']}{on}"
        + (f" ({', '.join(shown)})" if shown else "")
        + (f" — {revoked} tokens revoked" if revoked else "")
    )


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
    who = _joined([s["label"] for s in affected["subjects"]])
    addresses = ", ".join(affected["network_addresses"]) or "no recorded address"
    own = affected["own_data"]["reads"]
    return {
        "nature": (
            f"Unauthorised read access to appointment data through {who}:"
            f" {affected['served_requests']} successful requests and"
            f" {affected['denied_requests']} refused ones between {affected['first_access_at']}"
            f" and {affected['last_access_at']}, from {addresses}."
            + (f" {own} reads of the principals' own data are not counted." if own else "")
        ),
        "subjects": [s["label"] for s in affected["subjects"]],
        "categories_of_data_subjects": ["patients"],
        "approximate_number_of_data_subjects": affected["patient_count"],
        "categories_of_personal_data_records": classes,
        "approximate_number_of_records": affected["appointment_count"],
        "medical_fields_returned": "yes" if medical else "none",
        # A principal's reads of its own data: not a breach of anyone's data, not counted.
        "own_data_reads_excluded": affected["own_data"]["reads"],
        "likely_consequences": {c: CONSEQUENCES[c] for c in classes if c in CONSEQUENCES},
        "measures_taken": [measure_line(step) for step in timeline] or [TO_COMPLETE],
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
