"""Which format a FHIR client asked for: JSON is served, anything else is refused with 406.

FHIR lets a client choose with `_format` (json, xml, ttl, or a media type) or `Accept`.
Carnet writes JSON only; answering a request for XML with JSON (200) would let a client parse
the wrong thing, so a request that admits no JSON is refused before anything runs.
"""

from __future__ import annotations

from services.common.errors import NotAcceptable
from services.common.http.request import Request

JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir"}
)
# Media ranges in Accept that JSON satisfies.
JSON_RANGES = JSON_FORMATS | {"*/*", "application/*"}


def _media(value: str) -> str:
    """A media type without its parameters (`; fhirVersion=4.0`, `; q=0.9`), lower case."""
    return value.split(";", 1)[0].strip().lower()


def _refused_range(value: str) -> bool:
    """A media range with q=0: the client says it does not want it."""
    params = [p.strip().lower().replace(" ", "") for p in value.split(";")[1:]]
    return any(p in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)


def require_json(req: Request) -> None:
    """NotAcceptable (406) unless `_format` and `Accept` both admit JSON (or are absent)."""
    formats = [v for k, v in req.params() if k == "_format"]
    for value in formats:
        if _media(value) not in JSON_FORMATS:
            raise NotAcceptable(
                f"_format {value[:60]!r} is not served: this server writes JSON only "
                "(_format=json or application/fhir+json)"
            )
    accept = req.headers.get("Accept")
    if formats or not accept or not accept.strip():
        return  # _format overrides Accept (FHIR R4, http.html#mime-type)
    ranges = [r for r in accept.split(",") if r.strip()]
    refused = any(_media(r) in JSON_FORMATS and _refused_range(r) for r in ranges)
    if refused or not any(_media(r) in JSON_RANGES and not _refused_range(r) for r in ranges):
        raise NotAcceptable(
            f"Accept {accept[:80]!r} admits no JSON: this server writes application/fhir+json only"
        )
