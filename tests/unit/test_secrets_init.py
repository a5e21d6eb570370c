"""`carnet secrets init` writes every secret compose requires; compose has no secret default
left (issue #23: booking used to start with an empty master key and crash in a loop)."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

from click.testing import CliRunner

from services.audit.signing import public_key_b64, signer_from_config
from services.cli.main import cli
from services.cli.secrets_cmd import SECRETS, render

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = re.compile(r"\$\{(\w+):?\?")  # `?`: set, may be empty (the admin token)
DEFAULTED = re.compile(r"\$\{(\w+):-")


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


def test_init_writes_every_secret_once_private_and_usable(tmp_path):
    env = tmp_path / ".env"
    done = CliRunner().invoke(cli, ["secrets", "init", "--output", str(env)])
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = read_env(env)
    assert list(values) == [name for name, _ in SECRETS] and all(values.values())
    assert len(base64.b64decode(values["BOOKING_MASTER_KEY"], validate=True)) == 32
    signer = signer_from_config(values)  # audit starts with it
    assert public_key_b64(signer.public_key()) == values["AUDIT_VERIFY_PUBLIC_KEY"]
    again = CliRunner().invoke(cli, ["secrets", "init", "--output", str(env)])
    assert again.exit_code == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert read_env(env) == values  # nothing replaced
    forced = CliRunner().invoke(cli, ["secrets", "init", "--output", str(env), "--force"])
    assert (
        forced.exit_code == 0
        and read_env(env)["CARNET_ADMIN_TOKEN"] != values["CARNET_ADMIN_TOKEN"]
    )


def test_compose_requires_exactly_these_secrets_and_defaults_none():
    text = (ROOT / "docker-compose.yml").read_text()
    names = {name for name, _ in SECRETS}
    assert set(REQUIRED.findall(text)) == names
    assert not names & set(DEFAULTED.findall(text))  # no secret falls back to a default
    assert (ROOT / ".env.example").read_text() == render(None)


def test_the_build_context_leaves_out_what_the_image_does_not_need():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "var", "tests"} <= ignored
    assert ".env" in (ROOT / ".gitignore").read_text().split()
