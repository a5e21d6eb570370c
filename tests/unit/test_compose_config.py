"""docker-compose.yml as the real Compose renders it with the .env `carnet secrets init` writes:
reading the YAML (test_compose.py) cannot see interpolation, merges or what the tool refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner

from services.cli.main import cli
from services.cli.secrets_cmd import SECRETS
from services.common.config import SERVICES
from tests.unit.test_compose import ROOT, compose, env_read_by


def compose_tool() -> list[str] | None:
    """The venv's docker-compose (scripts/ensure-tools.sh), else one on PATH, else the plugin."""
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    if found := shutil.which("docker-compose"):
        return [found]
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    return None


TOOL = compose_tool()
pytestmark = pytest.mark.skipif(
    TOOL is None, reason="docker compose not installed (scripts/ensure-tools.sh could not)"
)


def config(env_file: Path) -> subprocess.CompletedProcess[str]:
    """`docker compose config` with env_file's values only: nothing leaks in from this shell."""
    assert TOOL is not None
    files = ["--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml")]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)}
    command = [*TOOL, *files, "--env-file", str(env_file), "config"]
    return subprocess.run(command, env=env, cwd=env_file.parent, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """The config rendered with a fresh .env, written by the command the README gives."""
    dotenv = tmp_path_factory.mktemp("compose") / ".env"
    done = CliRunner().invoke(cli, ["secrets", "init", "--output", str(dotenv)])
    assert done.exit_code == 0, done.output
    return config(dotenv)


def test_compose_accepts_the_file_and_warns_of_nothing(rendered):
    assert rendered.returncode == 0, rendered.stderr
    # An unset `${VAR}` is only a warning (a blank string): here it is a failure.
    assert rendered.stderr.strip() == "", rendered.stderr


def test_every_variable_a_service_reads_is_set_non_empty_in_its_rendered_container(rendered):
    containers = yaml.safe_load(rendered.stdout)["services"]
    written = compose()["services"]
    for svc in SERVICES:
        env = containers[svc]["environment"]
        missing = env_read_by(svc) - set(env)
        assert not missing, f"{svc} misses {sorted(missing)}"
        # Blank only where docker-compose.yml writes "" on purpose (e.g. RELAY_DATABASE_URL:
        # DATABASE_URL then), never where a `${VAR}` rendered to nothing.
        blank = {v for v in env_read_by(svc) if env[v] in ("", None)}
        unmeant = sorted(v for v in blank if written[svc]["environment"][v] != "")
        assert not unmeant, f"{svc} gets {unmeant} blank"


def test_without_the_env_file_compose_refuses_and_names_every_secret(tmp_path):
    (tmp_path / ".env").write_text("")
    done = config(tmp_path / ".env")
    assert done.returncode != 0
    assert "carnet secrets init" in done.stderr
    unnamed = [name for name, _ in SECRETS if f"variable {name} " not in done.stderr]
    assert not unnamed, f"compose does not require {unnamed}, yet secrets init writes them"


def test_alerts_link_a_runbook_the_stack_serves(rendered):
    containers = yaml.safe_load(rendered.stdout)["services"]
    prometheus, docs = containers["prometheus"], containers["docs"]
    base = urlsplit(prometheus["environment"]["CARNET_RUNBOOK_BASE"])
    assert base.scheme == "http" and base.hostname and base.port, base
    # 2.x expands ${CARNET_RUNBOOK_BASE} in prometheus.yml only with this flag.
    assert "--enable-feature=expand-external-labels" in prometheus["command"]
    served = {(p["host_ip"], int(p["published"]), p["target"]) for p in docs["ports"]}
    assert (base.hostname, base.port, 8080) in served, served
    mounts = {(v["source"], v["target"], v.get("read_only")) for v in docs["volumes"]}
    assert mounts == {(str(ROOT / "docs"), "/docs", True)}
    assert docs["read_only"] and docs["cap_drop"] == ["ALL"] and docs["user"] != "0"
