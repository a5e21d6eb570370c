"""The shared edge: a lost database is a 503 to retry, never a 500; a bug is a bare 500."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from services.common.http.edge import Site, serve
from services.common.http.request import Request
from services.common.http.routes import Route


def request(path: str) -> Request:
    return Request("GET", path, "", {}, b"", "192.0.2.1", "req-1", "http://booking")


def route(path: str, handler) -> Route:
    return Route(
        "r",
        "GET",
        path,
        handler,
        "A route",
        style="fhir" if path.startswith("/fhir") else "json",
        auth=False,
    )


@pytest.mark.parametrize("error", [psycopg.OperationalError("server closed"), PoolTimeout("x")])
@pytest.mark.parametrize("path", ["/fhir/Appointment", "/v1/practitioners/x/slots"])
def test_a_lost_database_answers_503_with_retry_after(error, path):
    def run(ctx, req, who):
        raise error

    response = serve(Site(), route(path, run), request(path))
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    body = response.body
    text = body["issue"][0]["diagnostics"] if path.startswith("/fhir") else body["detail"]
    assert "database is unavailable" in text


def test_anything_else_is_still_a_bare_500():
    def run(ctx, req, who):
        raise RuntimeError("patient Jane Doe")  # never echoed

    response = serve(Site(), route("/fhir/Appointment", run), request("/fhir/Appointment"))
    assert response.status == 500 and "Jane" not in str(response.body)
