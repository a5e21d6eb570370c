"""Parking a message the consumer cannot handle: its DLQ, the broker's backstop, the attempt count.

The consumer publishes the untouched body to its own dead-letter queue with the reason in
`x-carnet-*` headers (confirmed) and only then acks it (docs/adr/0004-dead-letters.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kombu import Connection

from services.common.broker import DLX


def dead_letter_headers(message: Any, queue_name: str, reason: str, detail: str) -> dict[str, Any]:
    """The message's own headers plus why, from where and when it was parked (for an operator)."""
    return {
        **(message.headers or {}),
        "x-carnet-reason": reason,
        "x-carnet-detail": detail,
        "x-carnet-queue": queue_name,
        "x-carnet-original-exchange": message.delivery_info.get("exchange", ""),
        "x-carnet-original-routing-key": message.delivery_info.get("routing_key", ""),
        "x-carnet-dead-lettered-at": datetime.now(UTC).isoformat(),
    }


def publish_to_dlq(amqp_uri: str, queue_name: str, message: Any, headers: dict[str, Any]) -> None:
    """Publish the untouched body to the queue's DLQ, confirmed: raise rather than lose it."""
    props = message.properties
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(
            message.body,
            exchange=DLX,
            routing_key=queue_name,
            headers=headers,
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding or "binary",
            delivery_mode=2,
            message_id=props.get("message_id"),
            correlation_id=props.get("correlation_id"),
            type=props.get("type"),
            app_id=props.get("app_id"),
            retry=True,
            retry_policy={"max_retries": 5},
        )


def delivery_count(message: Any) -> int:
    """Earlier deliveries of this message, as a quorum queue counts them (0 if no header)."""
    try:
        return int((message.headers or {}).get("x-delivery-count", 0))
    except (TypeError, ValueError):
        return 0
