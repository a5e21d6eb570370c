"""An incident report for people (Markdown) and for mail merges (CSV, one row per patient).

Both render the JSON report (incidents.build_report) and add nothing to it: per subject and in
total (the union, each appointment and patient once), own-data reads left out, refused
attempts apart from exposure, related activity not in scope, and the Art. 33(3) items.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

FIRST = 20  # rows of each list shown; the JSON report has them all


def _range(x: Mapping[str, Any]) -> str:
    """First / last read, or a dash for none."""
    return f"{x['first_read_at'] or '—'} / {x['last_read_at'] or '—'}"


def _subjects(a: Mapping[str, Any]) -> list[str]:
    """Per subject, then the union: a table a reader can add up, and why it may not add up."""
    rows = [
        f"| {s['label']} | {s['requests']} ({s['served_requests']} / {s['denied_requests']}) | "
        f"{s['appointment_count']} | {s['patient_count']} | "
        f"{', '.join(s['field_classes']) or 'none'} | {_range(s)} |"
        for s in a["per_subject"]
    ]
    return [
        "## Per subject and in total",
        "",
        "| subject | requests (served / refused) | appointments | patients | field classes "
        "| first / last read |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| **total (union)** | {a['requests']} ({a['served_requests']} / "
        f"{a['denied_requests']}) | {a['appointment_count']} | {a['patient_count']} | "
        f"{', '.join(a['field_classes']) or 'none'} | {_range(a)} |",
        "",
        "Subjects that share records (a connector and the address it used) count them each; the "
        "total counts every request, appointment and patient once.",
        "",
    ]


def _attempts(t: Mapping[str, Any]) -> list[str]:
    """Refused attempts: evidence of intent, not exposure."""
    codes = ", ".join(f"{code} {n}" for code, n in t["by_code"].items()) or "none"
    lines = [
        "## Refused attempts (evidence, not exposure)",
        "",
        f"- Refused: {t['count']} ({codes}); aimed at {t['targeted_appointment_count']} "
        f"appointments of {t['targeted_patient_count']} patients",
        f"- Refused tokens (fingerprints): {', '.join(t['token_fingerprints']) or 'none'}",
        "",
    ]
    if t["items"]:
        lines += ["| at | who | address | code | aimed at (appointment → patient) |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for i in t["items"][:FIRST]:
            who = f"{i['principal_kind']} {i['principal_id'] or i['token_fingerprint'] or ''}"
            aimed = "; ".join(f"{x['appointment_id']} → {x['patient_id']}" for x in i["targets"])
            lines.append(
                f"| {i['at']} | {who.strip()} | {i['network_address']} | {i['denial_code']} | "
                f"{aimed or '—'} |"
            )
        if t["count"] > FIRST:
            lines.append(f"| … {t['count'] - FIRST} more in the JSON report | | | | |")
        lines.append("")
    return lines


def _related(r: Mapping[str, Any]) -> list[str]:
    """Who else acted from the same addresses or software: what the investigator may add."""
    lines = ["## Related activity not in scope", ""]
    if not r["principals"]:
        return [*lines, "No other principal used the subjects' addresses or user agents.", ""]
    lines += [
        "| principal | requests (served / refused) | appointments | shared | add as subject |",
        "|---|---|---|---|---|",
    ]
    for p in r["principals"]:
        shared = ", ".join([*p["shared_addresses"], *p["shared_user_agents"]])
        add = p["suggested_subject"]
        lines.append(
            f"| {p['label']} | {p['requests']} ({p['served_requests']} / "
            f"{p['denied_requests']}) | {p['appointment_count']} | {shared} | "
            f"{add['kind']} {add['value']} |"
        )
    if r["truncated"]:
        lines.append(f"| … {r['count'] - len(r['principals'])} more | | | | |")
    return [*lines, ""]


def _ledgered(ready: Mapping[str, Any] | None) -> str:
    """The line a reader checks first: did the ledger hold every event of the window?"""
    if not ready:
        return "- Ledger completeness: not checked"
    state = "Ledger complete" if ready["complete"] else f"LEDGER INCOMPLETE ({ready['pending']})"
    return (
        f"- {state} for events recorded {ready['since']} → {ready['until']}"
        f" (checked {ready['checked_at']})"
    )


def markdown(report: Mapping[str, Any]) -> str:
    """The report for people: summary, per subject and total, Art. 33 items, attempts, related."""
    a, items, inc = report["affected"], report["art33"], report["incident"]
    own = a["own_data"]
    lines = [
        f"# Incident {inc['incident_id']}: {inc['title']}",
        "",
        f"- Subjects: {'; '.join(s['label'] for s in a['subjects'])}",
        f"- Window: {a['window']['start']} → {a['window']['end']}",
        f"- Aware at: {items['aware_at']}; Art. 33 deadline: {items['notification_deadline']}",
        f"- Requests: {a['requests']} ({a['served_requests']} served, "
        f"{a['denied_requests']} refused)",
        f"- Appointments exposed: {a['appointment_count']}; patients: {a['patient_count']}",
        f"- Field classes returned: {', '.join(a['field_classes']) or 'none'}",
        f"- Medical fields returned: {items['medical_fields_returned']}",
        f"- First / last read: {_range(a)}",
        _ledgered(report.get("completeness")),
        *(
            [
                f"- Own data read (not exposure, no notice): {own['reads']} reads of "
                f"{len(own['appointment_ids'])} of the principals' own appointments"
            ]
            if own["reads"]
            else []
        ),
        "",
        *_subjects(a),
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
        *_attempts(report["attempts"]),
        *_related(report["related"]),
        "## First exposed appointments",
        "",
        "| appointment | patient | first read | classes | subjects |",
        "|---|---|---|---|---|",
        *[
            f"| {x['appointment_id']} | {x['patient_id']} | {x['first_read_at']} | "
            f"{', '.join(x['field_classes'])} | {', '.join(x['subjects'])} |"
            for x in a["appointments"][:FIRST]
        ],
    ]
    if a["appointment_count"] > FIRST:
        lines.append(f"| … {a['appointment_count'] - FIRST} more in the JSON report | | | | |")
    return "\n".join(lines) + "\n"


def patients_csv(report: Mapping[str, Any]) -> str:
    """One row per affected patient: ids, appointments, classes, period, and through whom."""
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
            "subjects",
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
                " ".join(p["subjects"]),
            ]
        )
    return out.getvalue()
