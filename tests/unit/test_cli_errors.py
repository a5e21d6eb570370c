"""Every `carnet` command ends in one line and a documented exit code (issue #23): a database,
broker or API that does not answer, or a wrong option, is `Error: …` and 2, never a traceback;
an unexpected error is one line and 70 unless CARNET_DEBUG asks for the traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import psycopg
import pytest
import requests
from click.testing import CliRunner

from contracts.errors import ContractViolation
from services.cli.errors import EXIT_CODES, CarnetGroup, one_line
from services.cli.main import cli

NOWHERE_PG = "postgresql://postgres@127.0.0.1:1/nowhere"
NOWHERE_HTTP = "http://127.0.0.1:1"


@pytest.mark.parametrize(
    "args",
    [
        ["db", "migrate", "--database-url", NOWHERE_PG],
        ["replay", "export", "--service", "booking", "--database-url", NOWHERE_PG],
        ["audit", "accesses", "--connector", "00000000-0000-0000-0000-000000000001",
         "--database-url", NOWHERE_PG],
        ["dlq", "list", "--management-url", NOWHERE_HTTP],
        ["broker", "setup", "--management-url", NOWHERE_HTTP],
        ["replay", "stream", "x"],  # a missing option
        ["db", "migrate", "--bogus"],
        ["nosuch"],
    ],
)  # fmt: skip
def test_an_unreachable_dependency_or_a_wrong_option_is_one_line_and_exit_2(args):
    result = CliRunner().invoke(cli, args, env={"DATABASE_URL": NOWHERE_PG})
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_the_process_itself_prints_one_line_and_exits_2():
    env = {**os.environ, "DATABASE_URL": NOWHERE_PG}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "replay", "export", "--service", "audit"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: PostgreSQL did not answer")
    assert done.stderr.count("\n") == 1


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=CarnetGroup)
    def root() -> None: ...

    @root.command()
    def boom() -> None:
        raise exc

    return root


@pytest.mark.parametrize(
    ("exc", "code", "says"),
    [
        (psycopg.OperationalError("connection failed: refused\n\tIs the server running?"), 2,
         "PostgreSQL did not answer: connection failed: refused"),
        (requests.ConnectionError("refused"), 2, "the HTTP API did not answer"),
        (ConnectionRefusedError(111, "Connection refused"), 2, "ConnectionRefusedError"),
        (ValueError("AUDIT_SIGNING_KEY is not base64"), 2, "AUDIT_SIGNING_KEY is not base64"),
        (click.ClickException("no message with that id\nin the queue"), 2,
         "no message with that id in the queue"),
        (KeyError("oops"), 70, "internal error (KeyError)"),
        (ContractViolation("Thing v1", {"x": ["bad"]}), 70, "internal error (ContractViolation)"),
    ],
)  # fmt: skip
def test_what_escapes_a_command_becomes_one_line_and_its_code(exc, code, says):
    result = CliRunner().invoke(_group_raising(exc), ["boom"])
    assert result.exit_code == code
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and says in line


def test_carnet_debug_shows_the_traceback_of_a_bug():
    result = CliRunner().invoke(_group_raising(KeyError("oops")), ["boom"],
                                env={"CARNET_DEBUG": "1"})  # fmt: skip
    assert isinstance(result.exception, KeyError)
    off = CliRunner().invoke(_group_raising(KeyError("oops")), ["boom"], env={"CARNET_DEBUG": "0"})
    assert off.exit_code == 70


def test_exit_codes_are_in_the_help_and_messages_stay_short():
    shown = CliRunner().invoke(cli, ["--help"]).output.replace("\n  ", " ")
    assert "Exit codes: 0 done; 1 the command found a problem" in shown
    assert EXIT_CODES.startswith("Exit codes")
    assert len(one_line("x " * 400)) == 300 and "\n" not in one_line("a\nb")
