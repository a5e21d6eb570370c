"""What booking's aggregates answer: events per stream at an expected version, or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.errors import Conflict, NotFound, Unprocessable
from services.common.eventstore.decided import Decided


def conflict(detail: str) -> Conflict:
    """The state moved (slot taken, appointment already cancelled)."""
    return Conflict(detail)


def not_found(what: str) -> NotFound:
    """No such slot or appointment."""
    return NotFound(f"no such {what}")


def invalid(detail: str) -> Unprocessable:
    """Well-formed but against a business rule (past slot, overlap)."""
    return Unprocessable(detail)


@dataclass(frozen=True)
class Decision:
    """Events to append, per stream, with the version each stream must still be at."""

    appends: list[tuple[str, int, list[Decided]]] = field(default_factory=list)
