"""Delivery channels: e-mail over real SMTP and a development SMS outbox, behind one interface.

Nothing here connects at import time, and no exception text or log line ever carries a
recipient address, a subject or a body: those are personal data. Callers get a
`DeliveryError` whose `code` and `retryable` decide between a retry and NotificationFailed.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from services.notification.smtp_session import SmtpSession

DELIVERY_ERROR_CODES = frozenset(
    {"no_address", "rejected", "bounced", "provider_unavailable", "timeout"}
)
SMTP_SECURITY_MODES = ("none", "starttls", "ssl")
MESSAGE_ID_DOMAIN = "carnet.invalid"
_E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Message:
    """One rendered message for one recipient; the id makes a resend recognisable."""

    notification_id: UUID
    channel: str  # "email" | "sms"
    to: str  # e-mail address or E.164 phone number
    subject: str
    body: str  # plain text
    language: str  # "fr" | "en"

    def __repr__(self) -> str:
        # The default repr would print the address and the body into any traceback or log.
        return f"Message(notification_id={self.notification_id}, channel={self.channel!r})"


class DeliveryError(Exception):
    """A failed delivery, classified so the sender knows whether to retry."""

    def __init__(self, code: str, retryable: bool, detail: str = "") -> None:
        if code not in DELIVERY_ERROR_CODES:
            raise ValueError(f"unknown delivery error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.retryable = retryable
        self.detail = detail


class Channel(Protocol):
    """Anything that can hand one message to a provider and return its message id."""

    name: str

    def send(self, message: Message) -> str | None: ...


def message_id_for(notification_id: UUID) -> str:
    """The Message-ID for a notification: the same on every resend, so clients can dedupe."""
    return f"<{notification_id}@{MESSAGE_ID_DOMAIN}>"


def _caused_by_timeout(exc: BaseException) -> bool:
    """True if a timeout is anywhere in the chain (smtplib wraps read timeouts)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TimeoutError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _from_smtp_code(code: int, where: str) -> DeliveryError:
    """Map an SMTP reply code; the server's text is dropped, as it often echoes the address."""
    if 400 <= code < 500:
        return DeliveryError("provider_unavailable", True, f"smtp {code} on {where}")
    if 500 <= code < 600:
        return DeliveryError("rejected", False, f"smtp {code} on {where}")
    return DeliveryError("provider_unavailable", True, f"unexpected smtp reply {code} on {where}")


class SmtpChannel:
    """E-mail over a real SMTP server, plain, STARTTLS or implicit TLS, with optional login."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        helo: str | None = None,
    ) -> None:
        if security not in SMTP_SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {SMTP_SECURITY_MODES}")
        self.host, self.port, self.sender, self.security = host, int(port), sender, security
        self.username, self._password = username, password
        self.timeout, self.helo = float(timeout), helo
        self.envelope_sender = parseaddr(sender)[1] or sender
        self._context: ssl.SSLContext | None = None
        self._session = SmtpSession(self._connect)

    def __repr__(self) -> str:
        return f"SmtpChannel(host={self.host!r}, port={self.port}, security={self.security!r})"

    def build(self, message: Message) -> EmailMessage:
        """The RFC 5322 message: UTF-8 plain text with a deterministic Message-ID."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        # Collapsing whitespace keeps a stray newline in a rendered name out of the headers.
        email["Subject"] = " ".join(message.subject.split())
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = message_id_for(message.notification_id)
        email.set_content(message.body, subtype="plain", charset="utf-8", cte="quoted-printable")
        # After set_content, which clears every Content-* header.
        email["Content-Language"] = message.language
        return email

    def send(self, message: Message) -> str:
        """Deliver one message; return its Message-ID or raise a classified DeliveryError."""
        to = message.to.strip()
        if not to:
            raise DeliveryError("no_address", False, "no e-mail address on file")
        if "@" not in to or any(c in to for c in "\r\n"):
            raise DeliveryError("rejected", False, "malformed e-mail address")
        email = self.build(replace(message, to=to))
        try:
            self._deliver(email, to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()] or [550]
            raise _from_smtp_code(codes[0], "RCPT") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _from_smtp_code(exc.smtp_code, "MAIL") from None
        except smtplib.SMTPDataError as exc:
            raise _from_smtp_code(exc.smtp_code, "DATA") from None
        except smtplib.SMTPResponseException as exc:
            raise _from_smtp_code(exc.smtp_code, "session") from None
        except (smtplib.SMTPException, OSError) as exc:
            # `from None`: the original text may quote the server, which may quote the address.
            if _caused_by_timeout(exc):
                raise DeliveryError("timeout", True, "no answer from the SMTP server") from None
            kind = type(exc).__name__
            raise DeliveryError("provider_unavailable", True, f"smtp failure: {kind}") from None
        return str(email["Message-ID"])

    def _tls_context(self) -> ssl.SSLContext | None:
        """One TLS context per channel, made on first use: loading the system's CA store was
        most of notification's time when every message made its own (make bench, py-spy)."""
        if self.security == "none":
            return None
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _deliver(self, email: EmailMessage, to: str) -> None:
        """Over the channel's kept session (smtp_session.py)."""
        refused = self._session.send(email, self.envelope_sender, to)
        if refused:
            code = next(iter(refused.values()))[0]
            raise smtplib.SMTPRecipientsRefused({"recipient": (code, b"refused")})

    def _connect(self) -> smtplib.SMTP:
        """A new session: connect, STARTTLS or implicit TLS, login."""
        context = self._tls_context()
        client: smtplib.SMTP
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.helo,
                timeout=self.timeout,
                context=context,
            )
        else:
            client = smtplib.SMTP(
                self.host, self.port, local_hostname=self.helo, timeout=self.timeout
            )
        try:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self._password or "")
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        """End the kept session (the service stops)."""
        self._session.close()


class SmsOutboxChannel:
    """Development SMS provider: one JSON line per SMS in a local file, fsynced before success."""

    name = "sms"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SmsOutboxChannel(path={str(self.path)!r})"

    def send(self, message: Message) -> str:
        """Append the SMS; the returned id is new per submission, like a real provider's."""
        to = message.to.strip()
        if not to:
            raise DeliveryError("no_address", False, "no phone number on file")
        if not _E164.fullmatch(to):
            raise DeliveryError("rejected", False, "phone number is not E.164")
        provider_id = f"sms-{uuid.uuid4().hex}"
        line = {
            "provider_id": provider_id,
            "notification_id": str(message.notification_id),
            "to": to,
            "language": message.language,
            "body": message.body,
            "accepted_at": datetime.now(UTC).isoformat(),
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write() on an O_APPEND descriptor keeps each line whole, even across processes.
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            kind = type(exc).__name__
            raise DeliveryError("provider_unavailable", True, f"sms outbox: {kind}") from None
        return provider_id


def _optional(value: Any) -> str | None:
    """Empty strings from `${VAR:}` in config.yaml mean 'not set'."""
    if value is None:
        return None
    text = str(value)
    return text or None


def channels_from_config(config: Mapping[str, Any]) -> dict[str, Channel]:
    """Build the channels from nameko config; no connection is made until the first send."""
    email = SmtpChannel(
        host=str(config.get("SMTP_HOST") or "127.0.0.1"),
        port=int(config.get("SMTP_PORT") or 1025),
        sender=str(config.get("SMTP_SENDER") or "Carnet <no-reply@carnet.invalid>"),
        security=str(config.get("SMTP_SECURITY") or "none").strip().lower(),
        username=_optional(config.get("SMTP_USERNAME")),
        password=_optional(config.get("SMTP_PASSWORD")),
        timeout=float(config.get("SMTP_TIMEOUT") or 10),
        helo=_optional(config.get("SMTP_HELO")),
    )
    sms = SmsOutboxChannel(str(config.get("SMS_OUTBOX_PATH") or "var/sms-outbox.jsonl"))
    return {email.name: email, sms.name: sms}
