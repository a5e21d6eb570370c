"""Request bodies and parameters read strictly: a clear 4xx for anything else, never a 500."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from marshmallow import RAISE, Schema, ValidationError, fields

from services.common.errors import Invalid, Unsupported
from services.common.http.request import JSON, Request
from services.common.instants import in_utc
from services.common.json_input import BadJson, parse_json


def json_body(req: Request, *accepted: str) -> Any:
    """The JSON body, sent as one of the accepted media types: 415 otherwise, 400 if broken."""
    accepted = accepted or (JSON,)
    if req.content_type not in accepted:
        raise Unsupported(f"send one of: {', '.join(accepted)}")
    try:
        return parse_json(req.body)
    except BadJson as error:
        raise Invalid(str(error), code="structure") from None


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """`data` as the schema reads it, unknown fields refused: 400 naming each bad field."""
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object", fields={"_schema": ["Expected an object."]})
    try:
        return schema().load(data, unknown=RAISE)
    except ValidationError as error:
        messages = (
            error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        )
        raise Invalid(f"invalid fields: {', '.join(sorted(messages))}", fields=messages) from None


def json_object(req: Request, schema: type[Schema], *accepted: str) -> dict[str, Any]:
    """A JSON object body validated by `schema`."""
    return load(schema, json_body(req, *accepted))


def single(args: Mapping[str, list[str]], key: str) -> str | None:
    """One query parameter's value; repeated is 400 (which one would we honour?)."""
    values = args.get(key) or []
    if len(values) > 1:
        raise Invalid(f"{key} is repeated")
    return values[0] if values else None


def parse_uuid(text: str | None, what: str) -> UUID:
    """A UUID from a path, a parameter or a body, or 400."""
    try:
        return UUID(str(text))
    except ValueError:
        raise Invalid(f"{what} must be a UUID") from None


def parse_instant(text: str, what: str) -> datetime:
    """An ISO-8601 instant with its UTC offset (or Z), or 400: a naive time is ambiguous."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid(f"{what} must be an ISO-8601 instant") from None
    if value.tzinfo is None:
        raise Invalid(f"{what} needs a UTC offset, e.g. 2030-01-02T09:00:00Z")
    return in_utc(value, what)  # 0001-01-01T00:00+01:00 is before year 1 in UTC: unanswerable


class Instant(fields.DateTime):
    """A body field holding an instant with its offset, read by `parse_instant`'s rules."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("an ISO-8601 instant with its offset")
        try:
            return parse_instant(value, attr or "instant")
        except Invalid as error:
            raise ValidationError(error.detail) from None
