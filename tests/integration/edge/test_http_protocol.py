"""What the web server answers before any route runs, and bodies sent in chunks (#18)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.web.handlers import http

from services.common.http.edge import Site
from services.common.http.request import Request, Response
from services.common.http.routes import Api, Route
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.http_api import HttpApi
from tests.support.ports import free_port

LIMIT = 1024


def echo(ctx: None, req: Request, who: None) -> Response:
    """The body as the route received it."""
    return Response(200, {"length": len(req.body), "text": req.body.decode()})


class EchoService(CarnetService):
    """One public route behind the shared edge, with a small body limit."""

    name = "booking"  # a schema the migrations create: the store and relay need one
    api = HttpApi(
        Api("booking", "Echo.", (Route("echo", "POST", "/echo", echo, "Echo", auth=False),))
    )

    def site(self) -> Site:
        site = Site()
        site.max_body = LIMIT
        return site

    @http("POST", "/echo")
    def echo(self, request):
        return self.api.serve(request)


@pytest.fixture(scope="module")
def base(migrated_database_url: str, module_broker: str) -> Iterator[str]:
    port = free_port()
    config = {
        "AMQP_URI": module_broker,
        "DATABASE_URL": migrated_database_url,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
    }
    container = ServiceContainer(EchoService, config)
    container.start()
    yield f"http://127.0.0.1:{port}"
    container.stop()


def chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts  # requests sends a generator as Transfer-Encoding: chunked


def test_a_chunked_body_is_read_whole(base: str) -> None:
    r = requests.post(f"{base}/echo", data=chunks(b"hello ", b"chunked ", b"world"), timeout=10)
    assert r.status_code == 200 and r.json() == {"length": 19, "text": "hello chunked world"}


def test_a_chunked_body_over_the_limit_is_413(base: str) -> None:
    r = requests.post(f"{base}/echo", data=chunks(b"x" * LIMIT, b"y"), timeout=10)
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def raw(base: str, request: bytes) -> tuple[int, bytes, bytes]:
    """Send bytes as they are; (status, head, body) of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def test_a_request_line_over_8_kb_is_a_json_414(base: str) -> None:
    status, head, body = raw(base, b"GET /echo?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414 and b"application/json" in head
    assert body == b'{"error": "too_large", "detail": "Request URI Too Long"}'


def test_a_header_line_over_8_kb_is_a_json_431(base: str) -> None:
    request = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    status, head, body = raw(base, request)
    assert status == 431 and b"application/json" in head
    assert body.startswith(b'{"error": "too_large"')


def test_a_malformed_request_line_is_a_json_400(base: str) -> None:
    status, head, body = raw(base, b"NONSENSE\r\n\r\n")
    assert status == 400 and b"application/json" in head and body.startswith(b'{"error": "invalid"')


def outcome(head: bytes, body: bytes) -> dict:
    """The OperationOutcome a /fhir path is answered with, even by the web server itself."""
    assert b"application/fhir+json" in head
    answer = json.loads(body)
    assert (
        answer["resourceType"] == "OperationOutcome" and answer["issue"][0]["severity"] == "error"
    )
    return answer


def test_under_fhir_a_request_line_over_8_kb_is_an_operation_outcome_414(base: str) -> None:
    line = b"GET /fhir/Appointment?date=" + b"2" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, head, body = raw(base, line)
    assert status == 414 and outcome(head, body)["issue"][0]["code"] == "too-long"


def test_under_fhir_a_header_line_over_8_kb_is_an_operation_outcome_431(base: str) -> None:
    request = b"GET /fhir/Slot HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    status, head, body = raw(base, request)
    assert status == 431 and outcome(head, body)["issue"][0]["code"] == "too-long"
