"""The operator's entry point: every command and subcommand answers --help."""

import click
import pytest
from click.testing import CliRunner

from services.cli.main import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(all_commands(cli)), ids=lambda p: " ".join(p) or "carnet")
def test_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_read_models_have_one_rebuild_command():
    """`carnet replay rebuild` (ADR 0011) is the one rebuild: no in-place second path."""
    commands = {" ".join(p) for p in all_commands(cli)}
    rebuilds = {c for c in commands if "rebuild" in c or "reindex" in c}
    assert rebuilds == {"replay rebuild"}
    listed = CliRunner().invoke(cli, ["replay", "rebuild", "--list"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()] == [
        "booking.views",
        "audit.access_index",
    ]
