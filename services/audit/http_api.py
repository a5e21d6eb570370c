"""The investigators' HTTP endpoints as plain functions: authorize, parse, query, answer JSON.

service.py only wires them to nameko (identity's RPC, the pool); everything that decides a
status code is here, so it is tested without a broker. Every error is `{"error", "detail"}`;
an unexpected failure is a bare 500 whose log line names the exception type only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from services.audit import trace
from services.audit.access_index import LedgerGap
from services.audit.canonical import format_timestamp
from services.common.logging import get_logger

log = get_logger(__name__)

Response = tuple[int, Any]  # a JSON-ready body, or text (Markdown, CSV)
Args = Mapping[str, list[str]]
INVESTIGATOR_ROLES = frozenset({"investigator", "admin"})
DEFAULT_PRINCIPAL_TTL_S = 1.0  # a staff token refused by identity is refused here within this
DEFAULT_IDENTITY_TIMEOUT_S = 5.0
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
SELECTORS = {"principal": "principal_id", "connector": "connector_id", "patient": "patient_id"}


class HttpError(Exception):
    """An answer other than 200: status, error code, a sentence for the caller."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def unauthenticated(detail: str) -> HttpError:
    """401: no token, or identity refused it."""
    return HttpError(401, "unauthorized", detail)


def identity_unavailable() -> HttpError:
    """503: identity did not answer in time; nothing is served without knowing who asks."""
    return HttpError(503, "identity_unavailable", "identity did not answer; try again")


def bad_request(detail: str) -> HttpError:
    """400: an id, an instant or a filter that cannot be read."""
    return HttpError(400, "bad_request", detail)


def settings(config: Mapping[str, Any]) -> tuple[float, float]:
    """(principal cache TTL, identity timeout) in seconds; the TTL is capped at one second."""
    ttl = config.get("AUDIT_PRINCIPAL_TTL_SECONDS")
    timeout = config.get("AUDIT_IDENTITY_TIMEOUT_SECONDS")
    return (
        min(1.0, DEFAULT_PRINCIPAL_TTL_S if ttl in (None, "") else float(ttl)),
        DEFAULT_IDENTITY_TIMEOUT_S if timeout in (None, "") else float(timeout),
    )


def bearer(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def authorize(principal: Mapping[str, Any]) -> None:
    """Investigators and admins (staff) only: a trace shows who read what, from where."""
    if principal.get("kind") != "staff" or principal.get("role") not in INVESTIGATOR_ROLES:
        raise HttpError(403, "forbidden", "only staff investigators and admins may trace")


def parse_uuid(text: str | None, what: str) -> UUID:
    """A UUID from a path or query parameter, or 400."""
    try:
        return UUID(str(text))
    except ValueError:
        raise bad_request(f"{what} must be a UUID") from None


def parse_instant(text: str, what: str) -> datetime:
    """An ISO-8601 instant with its UTC offset (or Z), or 400: a naive time is ambiguous."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"{what} must be an ISO-8601 instant") from None
    if value.tzinfo is None:
        raise bad_request(f"{what} needs a UTC offset, e.g. 2030-01-02T09:00:00Z")
    try:
        value.astimezone(UTC)  # 0001-01-01T00:00+01:00 is before year 1 in UTC: unanswerable
    except OverflowError:
        raise bad_request(f"{what} is outside the years 1 to 9999 in UTC") from None
    return value


def single(args: Args, key: str) -> str | None:
    """One query parameter's value; repeated is 400 (which one would we honour?)."""
    values = args.get(key) or []
    if len(values) > 1:
        raise bad_request(f"{key} is repeated")
    return values[0] if values else None


def _instant(args: Args, key: str) -> datetime | None:
    """An optional instant parameter."""
    text = single(args, key)
    return parse_instant(text, key) if text else None


def serve(
    authorization: str | None,
    authenticate: Callable[[str], Mapping[str, Any]],
    endpoint: str,
    handler: Callable[[Mapping[str, Any]], Any],
) -> Response:
    """Authenticate, authorize, run the handler with the principal; failures become JSON errors."""
    try:
        token = bearer(authorization)
        if token is None:
            raise unauthenticated("send Authorization: Bearer <token>")
        principal = authenticate(token)
        authorize(principal)
        body = handler(principal)
    except HttpError as error:
        return error.status, {"error": error.error, "detail": error.detail}
    except LedgerGap as gap:
        log.error("audit.trace_index_stalled", endpoint=endpoint, seq=gap.seq)
        return 503, {"error": "index_stalled", "detail": str(gap)}
    except psycopg.OperationalError as error:
        log.error("audit.trace_database_unavailable", error_type=type(error).__name__)
        return 503, {"error": "database_unavailable", "detail": "try again"}
    except Exception as error:
        log.error("audit.trace_failed", endpoint=endpoint, error_type=type(error).__name__)
        return 500, {"error": "internal", "detail": "unexpected error"}
    log.info(
        "audit.trace_served",
        endpoint=endpoint,
        principal_id=str(principal.get("id")),
        role=principal.get("role"),
    )
    return 200, body


def history(pool: Any, appointment_id: str) -> dict[str, Any]:
    """Body of GET /v1/audit/appointments/{id}/history; 404 when the ledger never named it."""
    appointment = parse_uuid(appointment_id, "appointment id")
    with pool.connection() as conn:
        items = trace.history(conn, appointment)
    if not items:
        raise HttpError(404, "not_found", "the ledger names no such appointment")
    return {"appointment_id": str(appointment), "count": len(items), "items": items}


def state(pool: Any, appointment_id: str, args: Args) -> dict[str, Any]:
    """Body of GET …/state?as_of= (default now); 404 when it was not booked by then."""
    appointment = parse_uuid(appointment_id, "appointment id")
    text = single(args, "as_of")
    as_of = parse_instant(text, "as_of") if text else datetime.now(UTC)
    with pool.connection() as conn:
        found = trace.state_as_of(conn, appointment, as_of)
    if found is None:
        raise HttpError(404, "not_found", "no booked appointment with this id at that instant")
    return {"appointment_id": str(appointment), "as_of": format_timestamp(as_of), "state": found}


def accesses(pool: Any, args: Args) -> dict[str, Any]:
    """Body of GET /v1/audit/accesses?principal=|connector=|patient=&from=&to=&limit=."""
    chosen = {k: v for k in SELECTORS if (v := single(args, k)) is not None}
    if len(chosen) != 1:
        raise bad_request("give exactly one of principal, connector, patient")
    ((key, text),) = chosen.items()
    since, until = _instant(args, "from"), _instant(args, "to")
    if since and until and until <= since:
        raise bad_request("to must be after from")
    limit_text = single(args, "limit")
    try:
        limit = int(limit_text) if limit_text else DEFAULT_LIMIT
    except ValueError:
        raise bad_request("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be between 1 and {MAX_LIMIT}")
    selector = {SELECTORS[key]: parse_uuid(text, key)}
    with pool.connection() as conn:
        found = trace.accesses(conn, since=since, until=until, limit=limit + 1, **selector)
    return {
        "filter": {
            key: text,
            "from": format_timestamp(since),
            "to": format_timestamp(until),
        },
        "count": min(len(found), limit),
        "truncated": len(found) > limit,
        "accesses": found[:limit],
    }
