"""Record every bus message of a run, and find secrets or personal data in text.

`BusCapture` binds one queue with '#' to every Carnet exchange (`<service>.events`) and to
nameko's RPC exchange, before the services start, so it holds a copy of every event and every
RPC request and reply the run published. `Needles` are the values a run created (passwords,
secrets, tokens, keys; names, e-mails, phones); `found_in` says which of them a text holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika

from services.common.config import SERVICES

EVENT_EXCHANGES = tuple(f"{service}.events" for service in SERVICES)
RPC_EXCHANGE = "nameko-rpc"  # nameko's default: RPC requests and replies both go through it
PREFIX = 16  # a secret cut short is still a leak: its first 16 characters are looked for too


@dataclass(frozen=True)
class Captured:
    """One message as the broker delivered it to the capture queue."""

    exchange: str
    routing_key: str
    event_type: str | None
    text: str  # body, properties and headers, as one searchable string


class BusCapture:
    """A capture queue bound to every exchange of the run; drained once the run is over."""

    def __init__(self, amqp_uri: str) -> None:
        self.params = pika.URLParameters(amqp_uri)
        self.queue = f"security.capture.{uuid.uuid4().hex[:8]}"

    def start(self) -> BusCapture:
        """Declare the exchanges as their owners do, and bind the queue to each with '#'."""
        with pika.BlockingConnection(self.params) as conn:
            ch = conn.channel()
            ch.queue_declare(self.queue, durable=False, auto_delete=False)
            for exchange in (*EVENT_EXCHANGES, RPC_EXCHANGE):
                ch.exchange_declare(exchange, "topic", durable=True)
                ch.queue_bind(self.queue, exchange, "#")
        return self

    def drain(self) -> list[Captured]:
        """Every message captured so far, in order (the queue is emptied)."""
        out: list[Captured] = []
        with pika.BlockingConnection(self.params) as conn:
            ch = conn.channel()
            while True:
                method, props, body = ch.basic_get(self.queue, auto_ack=True)
                if method is None:
                    return out
                text = "\n".join(
                    [
                        body.decode("utf-8", errors="replace"),
                        json.dumps(props.headers or {}, default=str),
                        " ".join(
                            str(v or "") for v in (props.type, props.app_id, props.correlation_id)
                        ),
                        str(props.message_id or ""),
                    ]
                )
                out.append(Captured(method.exchange, method.routing_key, props.type, text))

    def close(self) -> None:
        """Remove the queue (the vhost goes with the test anyway)."""
        with pika.BlockingConnection(self.params) as conn:
            conn.channel().queue_delete(self.queue)


@dataclass
class Needles:
    """Values that must not appear where they do not belong, each under a label."""

    secrets: dict[str, str] = field(default_factory=dict)
    personal: dict[str, str] = field(default_factory=dict)

    def secret(self, label: str, value: str) -> str:
        """Remember a password, client secret, token or key; return it."""
        assert len(value) >= PREFIX, label
        self.secrets[label] = value
        return value

    def person(self, label: str, value: str) -> str:
        """Remember a name, e-mail, phone or birth date; return it."""
        self.personal[label] = value
        return value


def found_in(needles: Mapping[str, str], text: str, prefixes: bool = False) -> list[str]:
    """The labels of the needles `text` holds (case-insensitive; secrets also by prefix)."""
    low = text.lower()
    hits = []
    for label, value in needles.items():
        forms = {value.lower()}
        if prefixes:
            forms.add(value[:PREFIX].lower())
        if value.startswith("+"):  # a phone number written without its plus sign
            forms.add(value[1:])
        if any(f in low for f in forms):
            hits.append(label)
    return hits


def log_lines(log_dir: Path, services: Iterable[str] = SERVICES) -> dict[str, list[str]]:
    """Every line each service wrote (JSON or not: a traceback on stderr counts too)."""
    return {s: (log_dir / f"{s}.log").read_text(errors="replace").splitlines() for s in services}


def json_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The lines that are JSON objects."""
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
