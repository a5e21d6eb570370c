"""How booking answers a FHIR read or search: headers (ETag, Last-Modified, the access id),
conditional reads (If-None-Match) and a searchset page's links."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from services.booking import fhir
from services.common.http.request import FHIR_JSON, Request, Response


def served(resource: dict[str, Any], access_id: Any, status: int = 200) -> Response:
    """A resource with its access id, version (ETag) and last change (Last-Modified)."""
    headers = {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    meta = resource.get("meta", {})
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        when = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
        headers["Last-Modified"] = format_datetime(when.astimezone(UTC), usegmt=True)
    return Response(status, resource, headers, FHIR_JSON)


def unchanged(req: Request, etag: str | None) -> bool:
    """If-None-Match names the version served (weak comparison, RFC 9110 §13.1.2), or `*`."""
    wanted = req.headers.get("If-None-Match")
    if not wanted or etag is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def page_url(req: Request, cursor: str | None) -> str:
    """This search again at `cursor` (the first page when None)."""
    kept = [(k, v) for k, v in req.params() if k != "_cursor"]
    if cursor:
        kept.append(("_cursor", cursor))
    return f"{req.base_url}{req.path}" + (f"?{urlencode(kept)}" if kept else "")


def bundle(
    req: Request,
    resources: list[dict[str, Any]],
    cursor: str | None,
    nxt: str | None,
    searched_at: datetime | None = None,
) -> dict[str, Any]:
    """A searchset page with its self and next links, and when the search began (meta)."""
    return fhir.searchset(
        f"{req.base_url}/fhir",
        resources,
        page_url(req, cursor),
        page_url(req, nxt) if nxt else None,
        searched_at=searched_at,
    )
