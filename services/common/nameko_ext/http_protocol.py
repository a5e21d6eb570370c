"""eventlet's HTTP protocol, its own refusals in the services' JSON error format.

Before any WSGI app runs, eventlet (and http.server under it) answers some requests itself:
a request line over 8 KB (414), a header line over 8 KB or 64 KB of headers (eventlet says
400, HTTP says 431), a malformed request line or Content-Length (400) — with an empty body or
an HTML page. A client of a JSON API gets the same `{"error", "detail"}` body a route would
give (services/common/http/errors.py), with the right status: an OperationOutcome when the
request line names a path under /fhir, as any route there would answer.
"""

from __future__ import annotations

import re
from typing import Any

from nameko.web.server import HttpOnlyProtocol

from services.common.http.errors import KIND_OF_STATUS, Style, refusal, style_of

# eventlet's hand-written answers: b"HTTP/1.0 414 Request URI Too Long\r\n...Content-Length: 0"
_RAW = re.compile(rb"^HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n.*content-length: 0\r\n\r\n$", re.I | re.S)
_TOO_LARGE_HEADERS = (b"Header Line Too Long", b"Headers Too Large")
_TARGET = re.compile(rb"^[A-Z]{1,16} (/\S*)")


def style_of_line(request_line: bytes) -> Style:
    """The answer's format from the request line, however much of it was read (even cut at 8 KB)."""
    match = _TARGET.match(request_line or b"")
    return style_of(match[1].decode("latin-1") if match else "/")


def refusal_bytes(status: int, reason: str, style: Style = "json") -> bytes:
    """A whole HTTP/1.0 answer: the status, a refusal in `style`, and the connection closed."""
    kind = KIND_OF_STATUS.get(status, "too_large" if status in (414, 431) else "invalid")
    code = "too-long" if status in (414, 431) else None  # the FHIR issue type for both
    answer = refusal(style, kind, reason[:200] or "refused", code)
    head = (
        f"HTTP/1.0 {status} {reason}\r\nContent-Type: {answer.media_type}\r\n"
        f"Content-Length: {len(body := answer.encoded())}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _JsonRefusals:
    """The connection's write side, rewriting eventlet's empty-bodied refusals as they pass."""

    def __init__(self, wfile: Any, protocol: Any) -> None:
        self._wfile = wfile
        self._protocol = protocol

    def write(self, data: bytes) -> Any:
        """Anything else passes untouched; a refusal leaves with a JSON body and 431 if due."""
        match = _RAW.match(bytes(data)) if len(data) < 512 else None
        if match is None:
            return self._wfile.write(data)
        status, reason = int(match[1]), match[2]
        if status == 400 and reason in _TOO_LARGE_HEADERS:
            status = 431  # RFC 6585: what eventlet calls a 400
        style = style_of_line(getattr(self._protocol, "raw_requestline", b""))
        return self._wfile.write(refusal_bytes(status, reason.decode("latin-1"), style))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wfile, name)


class CarnetProtocol(HttpOnlyProtocol):
    """nameko's protocol with every answer it makes itself in the services' error format."""

    def setup(self) -> None:
        """Wrap the write side once per connection."""
        super().setup()
        self.wfile = _JsonRefusals(self.wfile, self)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, too many headers): JSON, not HTML."""
        self.close_connection = True
        reason = message or self.responses.get(code, ("",))[0]
        style = style_of_line(getattr(self, "raw_requestline", b""))
        self.wfile.write(refusal_bytes(int(code), reason, style))
