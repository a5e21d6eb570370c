"""How every `carnet` command ends: 0 done, 1 it found a problem, 2 it could not run, 70 a bug.

A command that cannot run — bad input, a database, broker or HTTP API that does not answer, a
missing key — prints one line, `Error: …`, on stderr and exits 2, whatever raised it: the
operator reads what failed and where, not a traceback. "Found a problem" (tampering, a
refusal, an index that differs) is the command's own answer, exit 1. Anything else is a bug in
Carnet: one line naming the exception's type, exit 70; `CARNET_DEBUG=1` shows the traceback.
(`carnet audit investigate` adds 3 and 4 of its own: docs/audit.md.)
stdout carries results only: `logs_on_stderr` sends a command's log lines to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

OK, PROBLEM, CANNOT_RUN, BUG = 0, 1, 2, 70  # 70: sysexits.h EX_SOFTWARE
EXIT_CODES = (
    "Exit codes: 0 done; 1 the command found a problem (tampering, a refusal, a difference); "
    "2 it could not run (bad input, an unreachable database, broker or API, a missing key: "
    "one line on stderr); 70 a bug in Carnet (CARNET_DEBUG=1 shows the traceback). "
    "`audit investigate` also exits 3 (window not in the ledger yet) and 4 (index differs)."
)
MAX_LINE = 300


class CannotRun(click.ClickException):
    """The command could not do its job: one line, exit 2."""

    exit_code = CANNOT_RUN


class Bug(click.ClickException):
    """An error Carnet did not expect: one line, exit 70."""

    exit_code = BUG


def one_line(text: Any) -> str:
    """A message as one line: whitespace collapsed, at most MAX_LINE characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _first(exc: BaseException) -> str:
    """The first line of an exception's text (psycopg's go on with hints), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _bugs() -> tuple[type[Exception], ...]:
    """ValueErrors that are Carnet's own mistakes, not the operator's: a payload its contract
    refuses, JSON it wrote or stored that does not parse."""
    from contracts.errors import ContractViolation

    return (ContractViolation, json.JSONDecodeError)


def reason(exc: BaseException) -> str | None:
    """What a dependency or the input said, for an error that means "could not run".

    Its imports are here, not at the top: every `carnet` command imports this module, and
    psycopg, requests, pika and the contracts cost ~0.2 s that only an error needs."""
    import psycopg
    import requests
    from pika.exceptions import AMQPError

    if isinstance(exc, psycopg.OperationalError):
        return f"PostgreSQL did not answer: {_first(exc)}"
    if isinstance(exc, psycopg.Error):
        return f"PostgreSQL refused: {type(exc).__name__}: {_first(exc)}"
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        request = getattr(exc, "request", None)
        where = f" at {request.url.split('?')[0]}" if request is not None and request.url else ""
        return f"the HTTP API did not answer{where} ({type(exc).__name__})"
    if isinstance(exc, requests.HTTPError):
        return f"the HTTP API refused: {_first(exc)}"
    if isinstance(exc, AMQPError):
        return f"RabbitMQ did not answer ({type(exc).__name__}: {_first(exc)})"
    if isinstance(exc, OSError):  # refused connections, unreadable files
        return f"{type(exc).__name__}: {_first(exc)}"
    if isinstance(exc, ValueError) and not isinstance(exc, _bugs()):  # a value it could not use
        return _first(exc)
    return None


class CarnetGroup(click.Group):
    """The root group: whatever a subcommand raises ends as one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; map what escapes it (docs/runbook.md, "Exit codes")."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a wrong option or argument: one line, exit 2
            where = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
            raise click.UsageError(one_line(exc.format_message() + where)) from None
        except click.ClickException as exc:
            exc.message = one_line(exc.message)
            if type(exc) is click.ClickException:  # a command's own "could not": exit 2
                exc.exit_code = CANNOT_RUN
            raise
        except (click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("CARNET_DEBUG", "").lower() not in ("", "0", "false", "no"):
                raise
            said = reason(exc)
            if said is not None:
                raise CannotRun(one_line(said)) from None
            what = f"internal error ({type(exc).__name__}); run again with CARNET_DEBUG=1"
            raise Bug(f"{what} for the traceback, and report it") from None


@contextmanager
def logs_on_stderr(service: str) -> Iterator[None]:
    """stdout carries the command's answer, so log lines (JSON, redacted) go to stderr meanwhile."""
    import logging

    import structlog

    from services.common.logging import configure_logging

    if structlog.is_configured():  # a host process chose where logs go: leave it be
        yield
        return
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(service, os.environ.get("LOG_LEVEL", "WARNING"), sys.stderr)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
