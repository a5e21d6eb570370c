"""Every refusal booking records for reach must be classed `reach` (AppointmentsAccessed V3).

Booking words its refusals and classes them with contracts.booking_access.denial_code_of;
audit's D4_outside_grants counts the `reach` code (services/audit/detection/classify.py). This
test reads every `Denied("...")` in booking's code, so rewording one cannot silently blind the
detection of reads outside a principal's grants.
"""

import ast
from pathlib import Path

from contracts.booking_access import REACH_WORDS as REACH_MARKERS

BOOKING = Path(__file__).resolve().parents[2] / "services" / "booking"
NOT_ABOUT_REACH = {
    "only an admin may erase a patient's medical data",
    # A patient's own appointment, a role's limit: not a read outside anyone's grants.
    "a patient may cancel or move an appointment, not mark attendance",
}


def denial_texts() -> list[str]:
    texts = []
    for path in BOOKING.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Denied"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                texts.append(node.args[0].value)
    return texts


def test_every_reach_refusal_carries_a_marker_audit_knows():
    texts = denial_texts()
    assert len(texts) >= 5
    unknown = [
        t for t in texts if t not in NOT_ABOUT_REACH and not any(m in t for m in REACH_MARKERS)
    ]
    assert unknown == []
