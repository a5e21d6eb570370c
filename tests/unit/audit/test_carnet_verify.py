"""The standalone verifier accepts a clean export bundle and names the first bad item of every
corrupted one, without a database; it imports no Carnet code."""

from __future__ import annotations

import ast
import base64
import copy
import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carnet_verify.__main__ import main
from carnet_verify.entries import entry_hash as bundle_entry_hash
from services.audit.bundle import assemble, covering_heads
from services.audit.canonical import GENESIS_HASH, entry_hash
from services.audit.heads import SignedHead
from services.audit.merkle import root
from services.audit.signing import ALGORITHM, TreeHead, new_seed, public_key_b64, signer_from_config

ROOT = Path(__file__).resolve().parents[3]
KEY_ID = "audit-test"
T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)


def signer(key_id=KEY_ID):
    return signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": key_id})


SIGNER = signer()


def ledger(n=30):
    """n rows as the sequencer writes them: the first eight in scheme 1, then scheme 2, with
    payloads that test canonical forms (non-ASCII, floats, 2**53 - 1, nesting, null)."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "event_id": str(uuid.UUID(int=seq)),
            "source_service": "booking",
            "source_position": seq,
            "stream_id": f"appointment-{seq % 4}",
            "stream_version": seq // 4 + 1,
            "event_type": "AppointmentBooked",
            "schema_version": 2,
            "payload": {
                "note": "Zoé ✓ \u2028",
                "n": seq,
                "ratio": 1.5 / seq,
                "big": 2**53 - 1,
                "nested": {"b": [1, 2.25, None, True], "é": "x"},
            },
            "metadata": {"correlation_id": f"corr-{seq}"},
            "occurred_at": T0 + timedelta(seconds=seq) if seq % 7 else None,
            "recorded_at": T0 + timedelta(seconds=seq, microseconds=123),
            "hash_scheme": 1 if seq <= 8 else 2,
            "prev_hash": prev,
        }
        row["entry_hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    return rows


ROWS = ledger()
LEAVES = [r["entry_hash"] for r in ROWS]


def head(size, key=SIGNER):
    tree = TreeHead(size, root(LEAVES[:size]), T0 + timedelta(minutes=size), key.key_id)
    return SignedHead(size, tree.root_hash, tree.timestamp, key.key_id, ALGORITHM, key.sign(tree))


HEADS = [head(8), head(17), head(24)]


def bundle(first=6, last=20):
    chosen = covering_heads(HEADS, first, last)
    window = {"from": "2030-03-01T08:00:06Z", "to": "x", "first_seq": first, "last_seq": last}
    built = assemble(ROWS[first - 1 : last], chosen, LEAVES, {KEY_ID: SIGNER.public_key()}, window)
    return json.loads(json.dumps(built))  # what a file holds


CLEAN = bundle()


def check(data, tmp_path, *args):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return main([str(path), *args])


def first_problem(data, tmp_path, capsys, *args):
    assert check(data, tmp_path, *args) == 1
    out = capsys.readouterr().out
    return out.splitlines()[0]


def entry(data, seq):
    return next(e for e in data["entries"] if e["seq"] == seq)


def flip(hex_text):
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


def test_a_clean_bundle_is_valid(tmp_path, capsys):
    assert [h["tree_size"] for h in CLEAN["heads"]] == [8, 17, 24]
    assert {e["hash_scheme"] for e in CLEAN["entries"]} == {1, 2}
    assert check(CLEAN, tmp_path) == 0
    assert capsys.readouterr().out.startswith("VALID: seq 6..20 (15 entries) under 3 signed")


def test_a_clean_bundle_is_valid_with_the_pinned_key(tmp_path):
    assert check(CLEAN, tmp_path, "--key", f"{KEY_ID}={public_key_b64(SIGNER.public_key())}") == 0


def test_a_window_inside_one_head_needs_no_consistency_proof(tmp_path):
    small = bundle(2, 7)
    assert [h["tree_size"] for h in small["heads"]] == [8] and small["consistency"] == []
    assert check(small, tmp_path) == 0


def corrupt_payload(data):
    entry(data, 10)["payload"]["n"] = 11


def corrupt_scheme(data):
    entry(data, 12)["hash_scheme"] = 1


def corrupt_inclusion_node(data):
    proof = next(p for p in data["inclusion"] if p["seq"] == 12)
    proof["proof"][1] = flip(proof["proof"][1])


def corrupt_consistency_node(data):
    data["consistency"][0]["proof"][0] = flip(data["consistency"][0]["proof"][0])


def corrupt_signature(data):
    """A well-formed signature by the right key, of another message."""
    data["heads"][1]["signature"] = base64.b64encode(SIGNER.private_key.sign(b"other")).decode()


def corrupt_root(data):
    data["heads"][1]["root_hash"] = flip(data["heads"][1]["root_hash"])


def drop_middle_entry(data):
    data["entries"] = [e for e in data["entries"] if e["seq"] != 13]


def drop_last_entry(data):
    data["entries"] = data["entries"][:-1]


def reorder(data):
    entries = data["entries"]
    entries[3], entries[4] = entries[4], entries[3]


def wrong_key(data):
    other = signer(KEY_ID)
    data["keys"][0]["public_key"] = public_key_b64(other.public_key())


def drop_head(data):
    data["heads"] = [h for h in data["heads"] if h["tree_size"] != 17]


def rewrite_consistently(data):
    """An entry rewritten with its hash and every later link recomputed: the chain holds, so
    only the inclusion proofs to the signed heads can tell."""
    prev = bytes.fromhex(entry(data, 9)["entry_hash"])
    for e in data["entries"][data["entries"].index(entry(data, 10)) :]:
        if e["seq"] == 10:
            e["payload"]["n"] = 999
        e["prev_hash"] = prev.hex()
        e["entry_hash"] = prev_hash = bundle_entry_hash(prev, e).hex()
        prev = bytes.fromhex(prev_hash)


CASES = {
    "an entry byte": (corrupt_payload, "entry #5 (seq 10): entry_hash does not match"),
    "a relabelled hash scheme": (corrupt_scheme, "entry #7 (seq 12): entry_hash does not match"),
    "an inclusion proof node": (corrupt_inclusion_node, "inclusion proof of seq 12: does not"),
    "a consistency proof node": (corrupt_consistency_node, "consistency proof 8->17: does not"),
    "a head signature": (corrupt_signature, "head of tree size 17: signature invalid"),
    "a head root": (corrupt_root, "head of tree size 17: signature invalid"),
    "a missing entry": (drop_middle_entry, "entry #8 (seq 14): expected seq 13"),
    "a missing last entry": (drop_last_entry, "window: says seq 6..20"),
    "reordered entries": (reorder, "entry #4 (seq 10): expected seq 9"),
    "a wrong key": (wrong_key, "head of tree size 8: signature invalid"),
    "a missing head": (drop_head, "consistency proof 8->24: missing"),
    "a consistent rewrite": (rewrite_consistently, "inclusion proof of seq 10: does not verify"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_every_corruption_is_invalid_and_names_the_first_bad_item(case, tmp_path, capsys):
    corrupt, expected = CASES[case]
    data = copy.deepcopy(CLEAN)
    corrupt(data)
    line = first_problem(data, tmp_path, capsys)
    assert line.startswith(f"INVALID: {expected}"), line


def test_a_key_other_than_the_pinned_one_is_invalid(tmp_path, capsys):
    other = public_key_b64(signer().public_key())
    line = first_problem(CLEAN, tmp_path, capsys, "--key", f"{KEY_ID}={other}")
    assert line == f"INVALID: key {KEY_ID}: not the pinned public key"


@pytest.mark.parametrize(
    "content",
    ["", "not json", "[]", json.dumps({"format": "other"}), json.dumps({**CLEAN, "heads": None})],
    ids=["empty", "not-json", "a-list", "another-format", "no-heads"],
)
def test_what_is_not_a_bundle_cannot_be_read(content, tmp_path, capsys):
    assert check(content, tmp_path) == 2
    assert capsys.readouterr().err.startswith("UNREADABLE: ")


def test_a_missing_file_cannot_be_read(tmp_path, capsys):
    assert main([str(tmp_path / "absent.json")]) == 2
    assert "UNREADABLE" in capsys.readouterr().err


def test_it_imports_only_the_standard_library_cryptography_and_rfc8785():
    allowed = set(sys.stdlib_module_names) | {"cryptography", "rfc8785", "carnet_verify"}
    for path in (ROOT / "carnet_verify").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert {n.split(".")[0] for n in names} <= allowed, (path.name, names)


def test_it_runs_from_a_copy_of_its_own_folder_alone(tmp_path):
    """As an outside party would run it: its folder copied elsewhere, no Carnet on the path."""
    shutil.copytree(ROOT / "carnet_verify", tmp_path / "carnet_verify")
    (tmp_path / "bundle.json").write_text(json.dumps(CLEAN))
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['carnet_verify', 'bundle.json']\n"
        "try:\n    runpy.run_module('carnet_verify', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "assert not {m.split('.')[0] for m in sys.modules} & {'services', 'contracts'}\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-E", "-s", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("VALID")
