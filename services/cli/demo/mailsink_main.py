"""A real SMTP server process for the demo and the tests: aiosmtpd on loopback, messages as files.

Run as `python mailsink_main.py STATE_DIR [HOST]`. It picks a free port, writes it to
STATE_DIR/port once it answers, stores each accepted message as STATE_DIR/messages/NNNNNN.eml
(and the client address:port it came from as NNNNNN.peer)
and reads STATE_DIR/mode on every RCPT and DATA, so a test can switch behaviour while it
runs. It lives in its own process so aiosmtpd's asyncio loop never meets eventlet.
Only the standard library and aiosmtpd are imported: the script runs from any directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

MODES = ("accept", "tempfail", "reject", "hang")
HANG_SECONDS = 3600


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class RecordingHandler:
    """aiosmtpd handler whose answers follow the mode file, read per command."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.inbox = state / "messages"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.received = 0

    def mode(self) -> str:
        try:
            mode = (self.state / "mode").read_text().strip()
        except FileNotFoundError:
            return "accept"
        return mode if mode in MODES else "accept"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        mode = self.mode()
        if mode == "tempfail":
            return "451 4.3.0 Temporary failure, please try again later"
        if mode == "reject":
            # Real servers echo the address: the client must not copy this text anywhere.
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mode = self.mode()
        if mode == "tempfail":
            return "451 4.3.0 Temporary failure, please try again later"
        if mode == "hang":
            # The message has been read; never answering makes the client time out.
            await asyncio.sleep(HANG_SECONDS)
            return "451 4.4.2 Gave up"
        if mode == "reject":
            return "550 5.7.1 Message rejected"
        self.received += 1
        # The client's address and port, so a test can tell one session from many.
        peer = ":".join(str(part) for part in (session.peer or ())[:2])
        write_atomically(self.inbox / f"{self.received:06d}.peer", peer.encode())
        write_atomically(self.inbox / f"{self.received:06d}.eml", envelope.original_content)
        return "250 2.0.0 Message accepted for delivery"


def free_port(host: str) -> int:
    """A port the kernel considers free right now (it may be taken before we bind: retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_controller(handler: RecordingHandler, host: str) -> Controller:
    """Start aiosmtpd on a free port, retrying if another process grabs it first."""
    last_error: Exception | None = None
    for _ in range(20):
        controller = Controller(
            handler, hostname=host, port=free_port(host), enable_SMTPUTF8=True, ready_timeout=10
        )
        try:
            controller.start()
        except OSError as exc:
            last_error = exc
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            continue
        return controller
    raise RuntimeError(f"could not bind an SMTP port on {host}: {last_error}")


def main(argv: list[str]) -> int:
    state = Path(argv[1])
    host = argv[2] if len(argv) > 2 else "127.0.0.1"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller = start_controller(RecordingHandler(state), host)
    # Written last: the parent treats the port file as "ready to accept connections".
    write_atomically(state / "port", str(controller.port).encode())
    while not stop.wait(0.2):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
