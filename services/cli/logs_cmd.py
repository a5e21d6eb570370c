"""`carnet logs trace`: one request's lines from every service's JSON log, in time order.

A request is named by its correlation id (the business id, X-Correlation-ID) or by its
OpenTelemetry trace id (the `trace_id` of its lines, a caller's `traceparent`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from services.cli.errors import CarnetGroup

HEAD = ("timestamp", "service.name", "level", "event")
TRACED = ("correlation_id", "trace_id")  # the fields an id given to `trace` is looked up in


@dataclass
class Line:
    """One parsed log line, with where it was read (for a stable order on equal timestamps)."""

    record: dict[str, Any]
    raw: str
    order: int

    @property
    def when(self) -> datetime:
        """The line's timestamp; a line without a readable one sorts last."""
        text = self.record.get("timestamp")
        try:
            when = datetime.fromisoformat(str(text))
        except (TypeError, ValueError):
            return datetime.max.replace(tzinfo=UTC)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class Trace:
    """The lines of one request, and how many lines were not JSON objects."""

    lines: list[Line] = field(default_factory=list)
    skipped: int = 0

    @property
    def services(self) -> list[str]:
        """The services that logged at least one of the lines, sorted."""
        return sorted({service_of(x.record) for x in self.lines})


def service_of(record: dict[str, Any]) -> str:
    """The service a line names; lines written before #23 call the field `service`."""
    return str(record.get("service.name", record.get("service", "-")))


def log_files(paths: Iterable[str]) -> list[Path]:
    """Files as given; a directory stands for every *.log in it (e.g. var/log); each file once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for name in paths:
        path = Path(name)
        for file in sorted(path.glob("*.log")) if path.is_dir() else [path]:
            key = file if name == "-" else file.resolve()
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out


def read_lines(streams: Iterable[IO[str]]) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """(record, raw) per non-empty line; record is None when the line is not a JSON object."""
    for stream in streams:
        for raw in stream:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                yield None, raw
                continue
            yield (record if isinstance(record, dict) else None), raw


def trace(
    traced_id: str,
    lines: Iterable[tuple[dict[str, Any] | None, str]],
    follow_causation: bool = False,
) -> Trace:
    """Keep the lines whose correlation id or trace id is `traced_id`, sorted by timestamp.

    With `follow_causation`, also the lines of workers caused by an event one of those lines
    names (`event_id` → a later line's `causation_id`), transitively.
    """
    result, others = Trace(), []
    for order, (record, raw) in enumerate(lines):
        if record is None:
            result.skipped += 1
        elif any(record.get(key) == traced_id for key in TRACED):
            result.lines.append(Line(record, raw, order))
        elif follow_causation and record.get("causation_id"):
            others.append(Line(record, raw, order))
    if follow_causation:
        events = {str(x.record["event_id"]) for x in result.lines if x.record.get("event_id")}
        while others:
            caused = [x for x in others if str(x.record["causation_id"]) in events]
            if not caused:
                break
            result.lines += caused
            others = [x for x in others if str(x.record["causation_id"]) not in events]
            events |= {str(x.record["event_id"]) for x in caused if x.record.get("event_id")}
    result.lines.sort(key=lambda x: (x.when, x.order))
    return result


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def compact(record: dict[str, Any], traced_id: str) -> str:
    """`timestamp service level event k=v …`; null fields and the traced id itself left out."""
    head = [service_of(record) if k == "service.name" else str(record.get(k, "-")) for k in HEAD]
    rest = [
        f"{k}={_value(v)}"
        for k, v in record.items()
        if k not in (*HEAD, "service") and v is not None and not (k in TRACED and v == traced_id)
    ]
    return " ".join([*head, *rest])


@click.group(cls=CarnetGroup)
def logs() -> None:
    """Read the services' JSON logs (var/log/<service>.log under `carnet up`)."""


@logs.command("trace")
@click.argument("traced_id", metavar="ID")
@click.argument("files", nargs=-1, type=click.Path(exists=True, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the matching lines as read.")
@click.option(
    "--follow-causation",
    is_flag=True,
    help="Also lines caused by an event of the trace (event_id → causation_id), transitively.",
)
def trace_cmd(
    traced_id: str, files: tuple[str, ...], as_json: bool, follow_causation: bool
) -> None:
    """Every line of ID (a correlation id or a trace id) in FILES (stdin if none), by time.

    FILES may be log files, directories (every *.log in them, e.g. var/log) or - for stdin.
    A correlation id is returned in every HTTP response's X-Correlation-ID header; a trace
    id is the middle part of the `traceparent` a caller sent. Lines that
    are not JSON objects are skipped and counted on stderr. Exit 1 when nothing matched.
    """
    streams: list[IO[str]] = []
    try:
        for path in log_files(files) if files else [Path("-")]:
            if str(path) == "-":
                streams.append(sys.stdin)
            else:
                streams.append(open(path, encoding="utf-8", errors="replace"))  # noqa: SIM115
        found = trace(traced_id, read_lines(streams), follow_causation)
    finally:
        for stream in streams:
            if stream is not sys.stdin:
                stream.close()
    for line in found.lines:
        click.echo(line.raw if as_json else compact(line.record, traced_id))
    if found.skipped:
        click.echo(f"skipped {found.skipped} non-JSON line(s)", err=True)
    if not found.lines:
        click.echo(f"no line with correlation_id or trace_id {traced_id}", err=True)
        sys.exit(1)
    click.echo(f"{len(found.lines)} line(s) from {', '.join(found.services)}", err=True)
