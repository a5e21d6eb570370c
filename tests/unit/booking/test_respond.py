"""booking.api.respond: a lost database is a 503 to retry, never a 500."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from services.booking.api import Request, respond


def request(path: str) -> Request:
    return Request("GET", path, "", {}, b"", "192.0.2.1", "req-1", "http://booking")


@pytest.mark.parametrize("error", [psycopg.OperationalError("server closed"), PoolTimeout("x")])
@pytest.mark.parametrize("path", ["/fhir/Appointment", "/v1/practitioners/x/slots"])
def test_a_lost_database_answers_503_with_retry_after(error, path):
    def run():
        raise error

    response = respond(request(path), run)
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    body = response.body
    text = body["issue"][0]["diagnostics"] if path.startswith("/fhir") else body["detail"]
    assert "database is unavailable" in text


def test_anything_else_is_still_a_bare_500():
    def run():
        raise RuntimeError("patient Jane Doe")  # never echoed

    response = respond(request("/fhir/Appointment"), run)
    assert response.status == 500 and "Jane" not in str(response.body)
