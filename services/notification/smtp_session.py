"""One SMTP session kept open between messages: a connection, TLS and login per message was
most of what a notice cost (issue #21); a stale session is found and replaced."""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

IDLE_CHECK_S = 2.0  # idle longer than this: NOOP before the next message
MAX_IDLE_S = 60.0  # idle longer than this: the server may have dropped it, start anew


class SmtpSession:
    """Sends over one connection, reconnecting when it is gone; one message at a time."""

    def __init__(self, connect: Callable[[], smtplib.SMTP]) -> None:
        self._connect = connect
        self._client: smtplib.SMTP | None = None
        self._used_at = 0.0
        self._lock = threading.Lock()

    def send(self, email: EmailMessage, from_addr: str, to: str) -> dict[str, tuple[int, bytes]]:
        """MAIL, RCPT, DATA on the open session (or a new one); any failure closes it."""
        with self._lock:
            reused = self._usable()
            if self._client is None:
                self._client = self._connect()
            try:
                return self._client.send_message(email, from_addr=from_addr, to_addrs=[to])
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if not reused:
                    raise
                # The kept session was closed under us (almost always before MAIL): once more on
                # a new one. A DATA cut short could be sent twice, as a retry would anyway;
                # both copies carry the same Message-ID.
                self._client = self._connect()
                return self._client.send_message(email, from_addr=from_addr, to_addrs=[to])
            except BaseException:
                self._drop()
                raise
            finally:
                self._used_at = time.monotonic()

    def _usable(self) -> bool:
        """True if a kept session is open and (after an idle pause) still answers."""
        if self._client is None:
            return False
        idle = time.monotonic() - self._used_at
        if idle > MAX_IDLE_S:
            self.close_locked()
            return False
        if idle > IDLE_CHECK_S:
            try:
                code, _ = self._client.noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self._drop()
                return False
        return True

    def close(self) -> None:
        """QUIT and close (the service stops)."""
        with self._lock:
            self.close_locked()

    def close_locked(self) -> None:
        """QUIT politely; a failing QUIT changes nothing for messages already accepted."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _drop(self) -> None:
        """Close without QUIT: the session is broken or in an unknown state."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
