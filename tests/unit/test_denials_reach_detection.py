"""Every refusal booking records for reach must be one audit's D3 recognises as such.

Booking words its refusals; audit's D3 (services/audit/detection/rules.py) reads the words.
This test reads every `Denied("...")` in booking's code, so rewording one cannot silently
blind the detection of reads outside a connector's grants.
"""

import ast
from pathlib import Path

from services.audit.detection.rules import REACH_MARKERS

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
