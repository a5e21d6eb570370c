"""Events of the notification service: what was delivered to whom (by id), and what was not."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from contracts.registry import REGISTRY

SERVICE = "notification"
EXCHANGE = f"{SERVICE}.events"

CHANNELS = ("email", "sms")
TEMPLATES = (
    "appointment_booked",
    "appointment_rescheduled",
    "appointment_cancelled",
    "breach_notice_art34",
)
# V2 adds the reminder sent a configurable time before the appointment.
TEMPLATES_V2 = (*TEMPLATES, "appointment_reminder")


class _DeliveryV1(Schema):
    """What both outcomes share: the trigger (for idempotency), the channel, the attempt."""

    notification_id = fields.UUID(required=True)
    source_event_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    template = fields.String(required=True, validate=validate.OneOf(TEMPLATES))
    attempt = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


@REGISTRY.event(SERVICE, "NotificationSent", 1, "notification.sent")
class NotificationSentV1(_DeliveryV1):
    """A message left for the patient; the address stays in notification's own store."""

    provider_message_id = fields.String(
        required=True, allow_none=True, validate=validate.Length(max=500)
    )


@REGISTRY.event(SERVICE, "NotificationFailed", 1, "notification.failed")
class NotificationFailedV1(_DeliveryV1):
    """A delivery failed; `retryable` tells operators whether it will be tried again."""

    error_code = fields.String(
        required=True,
        validate=validate.OneOf(
            ("no_address", "rejected", "bounced", "provider_unavailable", "timeout")
        ),
    )
    retryable = fields.Boolean(required=True)


class _DeliveryV2(_DeliveryV1):
    """V1 with the reminder template allowed."""

    template = fields.String(required=True, validate=validate.OneOf(TEMPLATES_V2))


@REGISTRY.event(SERVICE, "NotificationSent", 2, "notification.sent")
class NotificationSentV2(_DeliveryV2):
    """A message left for the patient; the address stays in notification's own store."""

    provider_message_id = fields.String(
        required=True, allow_none=True, validate=validate.Length(max=500)
    )


@REGISTRY.event(SERVICE, "NotificationFailed", 2, "notification.failed")
class NotificationFailedV2(_DeliveryV2):
    """A delivery failed; `retryable` tells operators whether it will be tried again."""

    error_code = NotificationFailedV1._declared_fields["error_code"]
    retryable = fields.Boolean(required=True)


@REGISTRY.upcaster("NotificationSent", from_version=1)
def notification_sent_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Every V1 template is still valid in V2: nothing to change."""
    return dict(payload)


@REGISTRY.upcaster("NotificationFailed", from_version=1)
def notification_failed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Every V1 template is still valid in V2: nothing to change."""
    return dict(payload)


__all__ = [
    "CHANNELS",
    "EXCHANGE",
    "SERVICE",
    "TEMPLATES",
    "NotificationFailedV1",
    "NotificationFailedV2",
    "NotificationSentV1",
    "NotificationSentV2",
]
