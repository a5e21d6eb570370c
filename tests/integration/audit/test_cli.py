"""`carnet audit verify`: JSON report on stdout, exit 1 when tampering is found."""

from __future__ import annotations

import json

from click.testing import CliRunner

from services.audit.checkpoint import checkpoint
from services.audit.signing import public_key_b64
from services.cli.main import cli
from tests.integration.audit.world import KEY_ID
from tests.support.ledger import tamper


def run(world, **env):
    env = {
        "AUDIT_VERIFY_PUBLIC_KEY": public_key_b64(world.signer.public_key()),
        "AUDIT_SIGNING_KEY_ID": KEY_ID,
        "AUDIT_SIGNING_KEY": "",
        **env,
    }
    args = ["audit", "verify", "--database-url", world.database_url, "--grace-seconds", "0"]
    return CliRunner().invoke(cli, args, env=env)


def test_verify_passes_then_names_the_tampered_row(world):
    world.emit_many(6)
    world.ingest_all()
    checkpoint(world.pool, world.stores["audit"], world.signer)
    world.ingest_all()
    result = run(world)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["ledger_size"] == 7 and report["checkpoints_checked"] == 1
    stages = [line for line in result.stderr.splitlines() if line.startswith("verify: ")]
    assert len(stages) == 5 and stages[-1].endswith("0 finding(s)")  # progress, on stderr
    tamper(world, ("UPDATE audit.ledger SET payload = '{}' WHERE seq = 3", ()))
    result = run(world)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["first_bad_seq"] == 3
    assert {f["kind"] for f in report["findings"]} == {"hash_mismatch", "altered"}


def test_verify_without_a_key_says_so(world):
    result = run(world, AUDIT_VERIFY_PUBLIC_KEY="")
    assert result.exit_code == 2 and "no key to check checkpoint signatures" in result.output
