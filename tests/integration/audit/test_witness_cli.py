"""`carnet witness run`, `carnet audit verify --witness`, `heads export`, `prove` and
`export-bundle` as an operator and an outside party use them; exit 1 is tampering, 2 is
"could not check" in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet_verify.__main__ import main as carnet_verify
from services.audit import proofs
from services.audit.checkpoint import checkpoint
from services.audit.heads import head_from_json
from services.audit.signing import public_key_b64
from services.cli.main import cli
from tests.support.ledger import tamper
from tests.support.ledger_tamper import build
from tests.support.poll import eventually
from tests.support.witness import TestWitness

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def witness(world):
    w = TestWitness(world)
    yield w
    w.close()


def carnet(witness, *args):
    return CliRunner().invoke(cli, list(args), env=witness.env())


def keys(world):
    return {world.signer.key_id: world.signer.public_key()}


def test_the_witness_runs_once_and_verify_compares_the_ledger_with_it(world, witness):
    build(world)
    ran = carnet(
        witness, "witness", "run", "--once", "--database-url", witness.admin_url,
        "--ledger-url", world.database_url,
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == {"witnessed": [8, 17], "refused": []}
    args = ["audit", "verify", "--database-url", world.database_url, "--grace-seconds", "0"]
    ok = carnet(witness, *args, "--witness", witness.admin_url)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["witness"]["newest_witnessed_size"] == 17
    tamper(world, ("DELETE FROM audit.checkpoints WHERE tree_size = 17", ()))
    assert carnet(witness, *args).exit_code == 0  # the ledger alone says ok
    found = carnet(witness, *args, "--witness", witness.admin_url)
    assert found.exit_code == 1
    assert json.loads(found.stdout)["first_bad_seq"] == 9
    status = carnet(witness, "witness", "status", "--database-url", witness.admin_url)
    assert json.loads(status.stdout)["heads"] == 2


def test_exported_heads_serve_as_the_witness(world, witness, tmp_path):
    build(world)
    witness.round()
    ledger_file, witness_file = tmp_path / "ledger.jsonl", tmp_path / "witness.jsonl"
    exported = carnet(
        witness, "audit", "heads", "export", "--to", str(ledger_file),
        "--database-url", world.database_url,
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    copied = carnet(
        witness, "audit", "heads", "export", "--to", str(witness_file),
        "--witness", witness.admin_url,
    )  # fmt: skip
    assert copied.exit_code == 0, copied.output
    lines = [json.loads(x) for x in witness_file.read_text().splitlines()]
    assert [x["tree_size"] for x in lines] == [8, 17] and all("witness" in x for x in lines)
    args = ["audit", "verify", "--database-url", world.database_url, "--grace-seconds", "0"]
    # The ledger's own export carries no cosignature: it is checked without a witness key.
    unsigned = {**witness.env(), "WITNESS_PUBLIC_KEY": ""}
    result = CliRunner().invoke(cli, [*args, "--witness", str(ledger_file)], env=unsigned)
    assert result.exit_code == 0, result.output
    result = carnet(witness, *args, "--witness", str(witness_file))
    assert result.exit_code == 0, result.output
    unsigned_but_required = carnet(witness, *args, "--witness", str(ledger_file))
    assert unsigned_but_required.exit_code == 1
    assert "witness_cosignature_invalid" in unsigned_but_required.stdout


@pytest.mark.parametrize(
    "case",
    ["no-such-file", "not-json", "witness-database-away", "ledger-database-away", "no-key"],
)
def test_what_cannot_be_checked_exits_2_in_one_line(world, witness, tmp_path, case):
    build(world)
    ledger_url, source, env = world.database_url, str(tmp_path / "absent.jsonl"), {}
    if case == "not-json":
        (tmp_path / "bad.jsonl").write_text('{"tree_size": 8}\nnot json\n')
        source = str(tmp_path / "bad.jsonl")
    elif case == "witness-database-away":
        source = "postgresql://postgres@127.0.0.1:1/nowhere"
    elif case == "ledger-database-away":
        ledger_url, source = "postgresql://postgres@127.0.0.1:1/nowhere", witness.admin_url
    elif case == "no-key":
        env = {"AUDIT_VERIFY_PUBLIC_KEY": ""}
    args = ["audit", "verify", "--database-url", ledger_url, "--witness", source]
    result = CliRunner().invoke(cli, args, env={**witness.env(), **env})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")


def test_inclusion_and_consistency_proofs_check_against_the_signed_heads(world, witness):
    build(world)
    db = ["--database-url", world.database_url]
    included = carnet(witness, "audit", "prove", "inclusion", "--seq", "5", *db)
    assert included.exit_code == 0, included.output
    proof = json.loads(included.stdout)
    head = head_from_json(proof["head"])
    assert head.tree_size == proof["tree_size"] == 17 and head.problem(keys(world)) is None
    path = [bytes.fromhex(p) for p in proof["proof"]]
    leaf = bytes.fromhex(proof["entry_hash"])
    assert proofs.verify_inclusion(4, 17, leaf, path, head.root_hash)
    consistent = carnet(witness, "audit", "prove", "consistency", "--from", "8", "--to", "17", *db)
    assert consistent.exit_code == 0, consistent.output
    proof = json.loads(consistent.stdout)
    first, second = head_from_json(proof["first_head"]), head_from_json(proof["second_head"])
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert proofs.verify_consistency(8, 17, first.root_hash, second.root_hash, path)
    beyond = carnet(witness, "audit", "prove", "inclusion", "--seq", "20", *db)
    assert beyond.exit_code == 2 and "no signed head covers seq 20" in beyond.output


def test_an_exported_bundle_of_the_real_ledger_passes_the_standalone_verifier(
    world, witness, tmp_path, capsys
):
    build(world)
    out = tmp_path / "bundle.json"
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    result = carnet(
        witness, "audit", "export-bundle", "--database-url", world.database_url,
        "--from", start, "--to", end, "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "7 later row(s) of the window are not under a signed head yet" in result.output
    bundle = json.loads(out.read_text())
    assert (bundle["window"]["first_seq"], bundle["window"]["last_seq"]) == (1, 17)
    pinned = f"{world.signer.key_id}={public_key_b64(world.signer.public_key())}"
    assert carnet_verify([str(out), "--key", pinned]) == 0, capsys.readouterr().out
    capsys.readouterr()
    bundle["entries"][3]["stream_version"] += 1
    out.write_text(json.dumps(bundle))
    assert carnet_verify([str(out), "--key", pinned]) == 1
    verdict = [x for x in capsys.readouterr().out.splitlines() if x.startswith("INVALID")]
    assert verdict == ["INVALID: entry #4 (seq 4): entry_hash does not match the entry's contents"]


def test_the_witness_is_a_process_of_its_own(world, witness):
    """`carnet witness run` until SIGTERM: it countersigns each new head as the audit signs."""
    build(world)
    env = {**os.environ, **witness.env(), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "witness", "run", "--interval", "0.2",
         "--database-url", witness.admin_url, "--ledger-url", world.database_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        eventually(lambda: len(witness.heads()) == 2, 20, "heads 8 and 17 witnessed")
        world.emit_many(3)
        world.ingest_all()
        assert checkpoint(world.pool, world.stores["audit"], world.signer).tree_size == 27
        eventually(lambda: witness.heads()[-1].tree_size == 27, 20, "head 27 witnessed")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert events.count("witness.head_witnessed") == 3
    assert witness.seed not in err and "WITNESS_SIGNING_KEY" not in err


def test_proofs_and_bundles_report_how_many_leaves_they_have_read(world):
    """A proof or a bundle reads every leaf up to its tree: on 10M rows, seconds (issue #23)."""
    import psycopg

    from services.audit.bundle import export_bundle
    from services.audit.prover import consistency, inclusion

    build(world)
    heard: list[tuple[int, int]] = []
    with psycopg.connect(world.database_url) as conn:  # a transaction: the cursor streams
        inclusion(conn, 5, progress=lambda done, total: heard.append((done, total)))
        consistency(conn, 8, 17, progress=lambda done, total: heard.append((done, total)))
        start = datetime(2000, 1, 1, tzinfo=UTC)
        export_bundle(conn, start, datetime.now(UTC) + timedelta(days=1), keys(world),
                      lambda done, total: heard.append((done, total)))  # fmt: skip
    assert heard == [(17, 17), (17, 17), (17, 17)]
