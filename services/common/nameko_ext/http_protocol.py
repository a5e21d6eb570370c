"""eventlet's HTTP protocol, its own refusals in the services' JSON error format.

Before any WSGI app runs, eventlet (and http.server under it) answers some requests itself:
a request line over 8 KB (414), a header line over 8 KB or 64 KB of headers (eventlet says
400, HTTP says 431), a malformed request line or Content-Length (400) — with an empty body or
an HTML page. A client of a JSON API gets the same `{"error", "detail"}` body a route would
give (services/common/http/errors.py), with the right status.
"""

from __future__ import annotations

import re
from typing import Any

from nameko.web.server import HttpOnlyProtocol

from services.common.http.errors import KIND_OF_STATUS, refusal

# eventlet's hand-written answers: b"HTTP/1.0 414 Request URI Too Long\r\n...Content-Length: 0"
_RAW = re.compile(rb"^HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n.*content-length: 0\r\n\r\n$", re.I | re.S)
_TOO_LARGE_HEADERS = (b"Header Line Too Long", b"Headers Too Large")


def refusal_bytes(status: int, reason: str) -> bytes:
    """A whole HTTP/1.0 answer: the status, a JSON refusal, and the connection closed."""
    kind = KIND_OF_STATUS.get(status, "too_large" if status in (414, 431) else "invalid")
    body = refusal("json", kind, reason[:200] or "refused").encoded()
    head = (
        f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _JsonRefusals:
    """The connection's write side, rewriting eventlet's empty-bodied refusals as they pass."""

    def __init__(self, wfile: Any) -> None:
        self._wfile = wfile

    def write(self, data: bytes) -> Any:
        """Anything else passes untouched; a refusal leaves with a JSON body and 431 if due."""
        match = _RAW.match(bytes(data)) if len(data) < 512 else None
        if match is None:
            return self._wfile.write(data)
        status, reason = int(match[1]), match[2]
        if status == 400 and reason in _TOO_LARGE_HEADERS:
            status = 431  # RFC 6585: what eventlet calls a 400
        return self._wfile.write(refusal_bytes(status, reason.decode("latin-1")))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wfile, name)


class CarnetProtocol(HttpOnlyProtocol):
    """nameko's protocol with every answer it makes itself in the services' error format."""

    def setup(self) -> None:
        """Wrap the write side once per connection."""
        super().setup()
        self.wfile = _JsonRefusals(self.wfile)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, too many headers): JSON, not HTML."""
        self.close_connection = True
        self.wfile.write(refusal_bytes(int(code), message or self.responses.get(code, ("",))[0]))
