"""Load a `carnet replay export` NDJSON file into a scratch database (`carnet replay import`).

Each exported line is one event (services/ops/replay.py `decoded`): its id, stream,
stream version, type, payload upcast to the latest contract version (`version`), the stored
version (`stored_version`), correlation and causation ids. The import appends each event to
its stream with its original id and `expected_version = stream_version - 1`, in the file's
order (the source's global-log order), so the scratch store holds the same streams and the
same relative log order. Re-running is harmless: an event whose id is stored already is
reported as such and not appended again (EventStore.append's idempotency).

What an export cannot carry is not reproduced: the payload is stored at the version it was
exported at (the latest, upcast), the metadata keeps the correlation and causation ids only
(plus `imported_from`: the source position and recorded_at), and positions, transaction ids
and recorded_at are the scratch database's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg.conninfo import conninfo_to_dict

from contracts.errors import UnknownEventType
from contracts.registry import REGISTRY
from services.common.eventstore.models import ConcurrencyError, IdempotencyConflict, NewEvent
from services.common.eventstore.store import EventStore

SCRATCH_MARKER = "scratch"


class ImportRefused(Exception):
    """The file or the target database is not fit for this import: nothing more is written."""


@dataclass(frozen=True)
class ExportedEvent:
    """One line of an export, ready to append."""

    line: int
    stream: str
    stream_version: int
    event: NewEvent


@dataclass
class Scan:
    """A first pass over the file: every line parsed and checked before anything is written."""

    count: int = 0
    streams: int = 0
    producers: set[str] = field(default_factory=set)
    unknown_types: set[str] = field(default_factory=set)


@dataclass
class ImportSummary:
    appended: int = 0
    already_stored: int = 0
    streams: set[str] = field(default_factory=set)


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname") or "")


def scratch_refusal(target_url: str, production_url: str) -> str | None:
    """Why `target_url` must not receive an import (None: it may).

    The rule: the database name must contain "scratch", and must not be the database of
    $DATABASE_URL (the running system's, `carnet` by default), whatever the host.
    """
    name = database_name(target_url)
    if not name:
        return "the database URL names no database"
    if name == database_name(production_url):
        return f"{name!r} is $DATABASE_URL's database, the running system's"
    if SCRATCH_MARKER not in name.lower():
        return f"{name!r} does not look like a scratch database (its name lacks 'scratch')"
    return None


def parse(line: str, number: int) -> ExportedEvent:
    """One NDJSON line of an export; ImportRefused names the line if it is not one."""
    try:
        raw = json.loads(line)
        metadata: dict[str, Any] = {
            key: raw[key] for key in ("correlation_id", "causation_id") if raw.get(key) is not None
        }
        metadata["imported_from"] = {
            "position": raw.get("position"),
            "recorded_at": raw.get("recorded_at"),
        }
        version = int(raw["stream_version"])
        payload = raw["payload"]
        if not isinstance(payload, dict) or version < 1:
            raise ValueError("payload must be an object, stream_version at least 1")
        event = NewEvent(
            event_id=UUID(raw["event_id"]),
            event_type=str(raw["type"]),
            schema_version=int(raw["version"]),
            data=payload,
            metadata=metadata,
        )
        return ExportedEvent(number, str(raw["stream"]), version, event)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ImportRefused(
            f"line {number}: not an event of `carnet replay export` ({type(exc).__name__}: {exc})"
        ) from exc


def read_export(path: Path) -> Iterator[ExportedEvent]:
    """The file's events in its order; blank lines are skipped."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield parse(line, number)


def scan(path: Path) -> Scan:
    """Parse every line; check each stream's versions follow one another in the file."""
    result = Scan()
    last: dict[str, int] = {}
    for item in read_export(path):
        previous = last.get(item.stream)
        if previous is not None and item.stream_version != previous + 1:
            raise ImportRefused(
                f"line {item.line}: stream {item.stream!r} jumps from version {previous} to "
                f"{item.stream_version}: the file is not a `carnet replay export` in log order"
            )
        last[item.stream] = item.stream_version
        try:
            result.producers.add(REGISTRY.contract(item.event.event_type).producer)
        except UnknownEventType:
            result.unknown_types.add(item.event.event_type)
        result.count += 1
    result.streams = len(last)
    return result


def infer_service(found: Scan) -> str:
    """The one service whose contracts produce every event type of the file."""
    if found.unknown_types or len(found.producers) != 1:
        unknown = f", unknown types {sorted(found.unknown_types)}" if found.unknown_types else ""
        raise ImportRefused(
            "cannot tell which service's store the file comes from (producers "
            f"{sorted(found.producers)}{unknown}): pass --service"
        )
    return next(iter(found.producers))


def batches(events: Iterator[ExportedEvent], size: int) -> Iterator[list[ExportedEvent]]:
    """Runs of consecutive versions of one stream, as one append each."""
    run: list[ExportedEvent] = []
    for item in events:
        if run and (
            len(run) >= size
            or item.stream != run[-1].stream
            or item.stream_version != run[-1].stream_version + 1
        ):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def import_events(
    store: EventStore,
    events: Iterator[ExportedEvent],
    *,
    batch_size: int = 100,
    progress: Callable[[int], Any] = lambda _done: None,
) -> ImportSummary:
    """Append every event to its stream at its exported version, with its original id."""
    summary = ImportSummary()
    for run in batches(events, batch_size):
        try:
            _append(store, run, summary)
        except IdempotencyConflict:
            # Part of the run is stored (an earlier import cut elsewhere): one by one.
            for item in run:
                _append(store, [item], summary)
        progress(summary.appended + summary.already_stored)
    return summary


def _append(store: EventStore, run: Sequence[ExportedEvent], summary: ImportSummary) -> None:
    first = run[0]
    try:
        result = store.append(first.stream, [i.event for i in run], first.stream_version - 1)
    except ConcurrencyError as exc:
        raise ImportRefused(
            f"line {first.line}: stream {first.stream!r} is at version {exc.actual_version} in "
            f"the scratch database, but the file's next event for it is version "
            f"{first.stream_version}. Export whole streams (no --from), import the earlier "
            "part first, or use an empty scratch database."
        ) from exc
    except IdempotencyConflict as exc:
        if len(run) > 1:
            raise
        raise ImportRefused(
            f"line {first.line}: event {first.event.event_id} is stored already, in another "
            f"stream than {first.stream!r}"
        ) from exc
    if result.already_stored:
        summary.already_stored += len(run)
    else:
        summary.appended += len(run)
    summary.streams.add(first.stream)
