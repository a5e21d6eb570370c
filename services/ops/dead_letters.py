"""Dead-letter queues for on-call: list, inspect, requeue and drop (docs/adr/0004-dead-letters.md).

Plain pika + requests (no nameko/eventlet) so the CLI can run anywhere. Messages are read by
consuming with manual acks and closing the channel without acking the ones we keep: they
return to the queue. That avoids basic.get + nack(requeue=True), whose only purpose would be
the same, and keeps one code path for show, requeue and drop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import requests

from services.common.amqp import pika_connection
from services.common.broker import DLQ_PREFIX, vhost_of
from services.common.logging import get_logger

log = get_logger(__name__)

# Headers added by the consumer or the broker when dead-lettering; a requeued message must not
# carry them, or the consumer would count the DLQ's deliveries as its own failed attempts.
_STRIPPED_PREFIXES = ("x-carnet-", "x-death", "x-first-death-", "x-last-death-")
_STRIPPED = {"x-delivery-count"}
_IDLE_S = 1.0  # how long to wait for the next delivery before deciding the queue is read


class DeadLetterError(RuntimeError):
    """An operator-facing failure (unknown queue, message not found, unroutable requeue)."""


@dataclass(frozen=True)
class DeadLetter:
    """What on-call may see of a dead letter: its metadata, never its body (personal data)."""

    message_id: str | None
    type: str | None
    reason: str | None
    detail: str | None
    queue: str | None
    original_exchange: str | None
    original_routing_key: str | None
    dead_lettered_at: str | None
    body_size: int


def _connect(amqp_uri: str) -> pika.BlockingConnection:
    return pika_connection(amqp_uri)


def _origin(headers: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(queue, exchange, routing key) the message came from: our headers, else x-death.

    The broker's delivery-limit backstop (carnet.dlq.delivery-limit) has no x-carnet-* headers;
    its x-death entry names the original queue, exchange and routing keys.
    """
    if "x-carnet-original-exchange" in headers:
        return (
            _text(headers.get("x-carnet-queue")),
            _text(headers.get("x-carnet-original-exchange")),
            _text(headers.get("x-carnet-original-routing-key")),
        )
    deaths = headers.get("x-death") or []
    if deaths:
        first = deaths[-1]  # the oldest death is last: where the message was first published
        keys = first.get("routing-keys") or [None]
        return _text(first.get("queue")), _text(first.get("exchange")), _text(keys[0])
    return None, None, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def describe(props: pika.BasicProperties, body: bytes) -> DeadLetter:
    """The safe summary of one dead letter."""
    headers = props.headers or {}
    queue, exchange, routing_key = _origin(headers)
    return DeadLetter(
        message_id=props.message_id,
        type=props.type,
        reason=_text(headers.get("x-carnet-reason")) or ("delivery-limit" if queue else None),
        detail=_text(headers.get("x-carnet-detail")),
        queue=queue,
        original_exchange=exchange,
        original_routing_key=routing_key,
        dead_lettered_at=_text(headers.get("x-carnet-dead-lettered-at")),
        body_size=len(body),
    )


def list_dead_letter_queues(
    amqp_uri: str, management_url: str, auth: tuple[str, str]
) -> list[tuple[str, int]]:
    """Every `carnet.dlq.*` queue of the URI's vhost with its ready message count.

    Names come from the management API; counts from a passive declare, because the API's
    counts lag by a statistics interval and on-call needs the number as it is now.
    """
    vhost = quote(vhost_of(amqp_uri), safe="")
    r = requests.get(
        f"{management_url.rstrip('/')}/api/queues/{vhost}",
        params={"columns": "name,messages"},
        auth=auth,
        timeout=10,
    )
    r.raise_for_status()
    names = sorted(q["name"] for q in r.json() if q["name"].startswith(DLQ_PREFIX))
    result = []
    with _connect(amqp_uri) as conn:
        for name in names:
            ch = conn.channel()
            result.append((name, ch.queue_declare(name, passive=True).method.message_count))
            ch.close()
    return result


def _read(
    conn: pika.BlockingConnection, queue: str, limit: int | None = None
) -> Iterator[tuple[Any, Any, pika.BasicProperties, bytes]]:
    """Yield (channel, method, props, body) for the messages ready now, unacked.

    Bounded by the depth at the start, so a message dead-lettered again while we work (e.g.
    a requeued one that still fails) is not read twice. Whatever the caller does not ack
    returns to the queue when the channel closes.
    """
    ch = conn.channel()
    try:
        depth = ch.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker as exc:
        raise DeadLetterError(f"no queue {queue!r} in this vhost") from exc
    wanted = depth if limit is None else min(depth, limit)
    seen = 0
    if wanted:
        ch.basic_qos(prefetch_count=0)
        for method, props, body in ch.consume(queue, inactivity_timeout=_IDLE_S):
            if method is None:
                break
            seen += 1
            yield ch, method, props, body
            if seen >= wanted:
                break
    if ch.is_open:
        ch.close()  # unacked deliveries go back to the queue


def peek(amqp_uri: str, queue: str, limit: int = 20) -> list[tuple[DeadLetter, bytes]]:
    """Up to `limit` dead letters with their bodies, all left in the queue."""
    with _connect(amqp_uri) as conn:
        return [(describe(p, b), b) for _ch, _m, p, b in _read(conn, queue, limit)]


def _clean_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {
        k: v
        for k, v in (headers or {}).items()
        if k not in _STRIPPED and not k.startswith(_STRIPPED_PREFIXES)
    }


def requeue(amqp_uri: str, queue: str, message_id: str | None = None) -> list[DeadLetter]:
    """Republish dead letters (all, or every copy of `message_id`) where they came from.

    To the original exchange and routing key, not straight into the consumer queue: the
    consumer rejects as `forged-producer` an event that did not arrive through its producer's
    exchange. Other consumers bound to that key may see it again; their inboxes make it a
    no-op. Each DLQ copy is acked only after the broker confirmed the republish (mandatory,
    so a message that would reach no queue fails instead of vanishing).
    """
    done: list[DeadLetter] = []
    with _connect(amqp_uri) as conn:
        out = conn.channel()
        out.confirm_delivery()
        for ch, method, props, body in _read(conn, queue):
            if message_id is not None and props.message_id != message_id:
                continue
            summary = describe(props, body)
            if summary.original_exchange is None or summary.original_routing_key is None:
                raise DeadLetterError(f"message {props.message_id} does not say where it came from")
            clean = pika.BasicProperties(
                content_type=props.content_type,
                content_encoding=props.content_encoding,
                headers=_clean_headers(props.headers),
                delivery_mode=2,
                correlation_id=props.correlation_id,
                message_id=props.message_id,
                timestamp=props.timestamp,
                type=props.type,
                app_id=props.app_id,
            )
            try:
                out.basic_publish(
                    summary.original_exchange,
                    summary.original_routing_key,
                    body,
                    clean,
                    mandatory=True,
                )
            except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                raise DeadLetterError(f"broker refused requeue of {props.message_id}") from exc
            ch.basic_ack(method.delivery_tag)
            done.append(summary)
    if message_id is not None and not done:
        raise DeadLetterError(f"no message {message_id!r} in {queue!r}")
    return done


def drop(
    amqp_uri: str,
    queue: str,
    message_id: str,
    reason: str,
    trail: Path,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[DeadLetter]:
    """Remove every copy of one message for good, and record who-what-why.

    There is no ops event store yet, so the drop is recorded twice: a `dlq.dropped` warning
    log line (for the log pipeline) and a JSON line appended to `trail` (a durable file on-call
    can attach to the incident). The body is not recorded: it may hold personal data.
    """
    if not reason.strip():
        raise DeadLetterError("a reason is required to drop a message")
    dropped: list[DeadLetter] = []
    with _connect(amqp_uri) as conn:
        for ch, method, props, body in _read(conn, queue):
            if props.message_id == message_id:
                ch.basic_ack(method.delivery_tag)
                dropped.append(describe(props, body))
    # The channel close above has round-tripped, so the acks are processed before we record.
    if not dropped:
        raise DeadLetterError(f"no message {message_id!r} in {queue!r}")
    record = {
        "event": "dlq.dropped",
        "at": clock().isoformat(),
        "queue": queue,
        "message_id": message_id,
        "reason": reason,
        "copies": len(dropped),
        "dead_letter": asdict(dropped[0]),
    }
    trail.parent.mkdir(parents=True, exist_ok=True)
    with trail.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    log.warning(
        "dlq.dropped", queue=queue, message_id=message_id, reason=reason, copies=len(dropped)
    )
    return dropped
