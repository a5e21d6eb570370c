"""Fixture `smtp_server`: a real SMTP server in its own process on loopback, one per test.

The server is `services/cli/demo/mailsink_main.py` (aiosmtpd, shared with the demo) run with
this interpreter. A test reads what it received with `.messages()` and changes its behaviour
with `.set_mode()` while it runs.
"""

from __future__ import annotations

import email.policy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.support.poll import eventually

SERVER_SCRIPT = Path(__file__).resolve().parents[2] / "services/cli/demo/mailsink_main.py"
MODES = ("accept", "tempfail", "reject", "hang")
START_TIMEOUT = 20.0


class SmtpServer:
    """Handle on one running SMTP server process and its state directory."""

    def __init__(self, state: Path, host: str = "127.0.0.1") -> None:
        self.state, self.host = state, host
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._parsed: dict[str, EmailMessage] = {}

    def start(self) -> SmtpServer:
        """Launch the process and wait until it has written its port (it answers by then)."""
        self.state.mkdir(parents=True, exist_ok=True)
        self.set_mode("accept")
        with open(self.state / "server.log", "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, str(SERVER_SCRIPT), str(self.state), self.host],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        port_file = self.state / "port"
        while not port_file.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_text = (self.state / "server.log").read_text(errors="replace")
                raise RuntimeError(f"SMTP test server did not start:\n{log_text}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        return self

    def stop(self) -> None:
        """Stop the process: politely first, then for good."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def set_mode(self, mode: str) -> None:
        """accept | tempfail (451) | reject (550 on RCPT) | hang (never answer DATA)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        tmp = self.state / ".mode.tmp"
        tmp.write_text(mode)
        # Atomic, so the server never reads a half-written mode.
        os.replace(tmp, self.state / "mode")

    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed, in arrival order; the same objects on every call."""
        inbox = self.state / "messages"
        parser = BytesParser(policy=email.policy.default)
        # Files never change once renamed into place, so each is parsed once; returning the
        # same objects keeps `m in earlier_messages` meaningful (EmailMessage compares by id).
        for path in sorted(inbox.glob("*.eml")) if inbox.exists() else []:
            if path.name not in self._parsed:
                with open(path, "rb") as f:
                    self._parsed[path.name] = parser.parse(f)  # type: ignore[assignment]
        return [self._parsed[name] for name in sorted(self._parsed)]

    def sessions(self) -> list[str]:
        """The client address:port each accepted message came over, in arrival order."""
        inbox = self.state / "messages"
        files = sorted(inbox.glob("*.peer")) if inbox.exists() else []
        return [path.read_text() for path in files]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages once at least `count` have arrived; for asynchronous senders."""
        return eventually(
            lambda: len(found := self.messages()) >= count and found,
            timeout,
            f"{count} message(s) at the SMTP server",
        )

    @property
    def config(self) -> dict[str, Any]:
        """The service config keys that point the SMTP channel at this server."""
        return {"SMTP_HOST": self.host, "SMTP_PORT": self.port, "SMTP_SECURITY": "none"}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A fresh SMTP server process for one test, stopped and its files removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="carnet-smtp-"))
    server = SmtpServer(state)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
