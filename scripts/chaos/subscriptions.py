"""Who consumes what, and where each consumer records the events it handled (its inbox).

Every `@consume_event` of every service is named here, either with the inbox the runner checks
or with the reason it is checked another way; tests/chaos checks that this table covers every
consumer the services declare, so a new consumer cannot escape reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass

APPOINTMENT_EVENTS = ("AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled")


@dataclass(frozen=True)
class Subscription:
    """`service`'s handler(s) `methods` record each `types` event of `source` in `inbox`."""

    service: str
    methods: tuple[str, ...]
    inbox: str
    source: str
    types: tuple[str, ...]


SUBSCRIPTIONS = (
    Subscription(
        "booking",
        ("on_directory_event",),
        "booking.on_directory_event",
        "identity",
        ("PatientRegistered", "PractitionerRegistered"),
    ),
    Subscription("booking", ("on_quota_set",), "booking.on_quota_set", "identity", ("QuotaSet",)),
    Subscription(
        "notification",
        ("on_patient_registered",),
        "notification.on_patient_registered",
        "identity",
        ("PatientRegistered",),
    ),
    Subscription(
        "notification",
        ("on_practitioner_registered",),
        "notification.on_practitioner_registered",
        "identity",
        ("PractitionerRegistered",),
    ),
    Subscription(
        "notification",
        ("on_appointment_event",),
        "notification.on_appointment_event",
        "booking",
        APPOINTMENT_EVENTS,
    ),
    Subscription(
        "notification",
        ("on_breach_notification_requested",),
        "notification.on_breach_notification_requested",
        "audit",
        ("BreachNotificationRequested",),
    ),
    Subscription(
        "identity",
        ("on_suspicious_access",),
        "identity.on_suspicious_access",
        "audit",
        ("SuspiciousAccessDetected",),
    ),
    Subscription(
        "audit",
        ("detect_accesses",),
        "audit.detection",
        "booking",
        ("AppointmentsAccessed", *APPOINTMENT_EVENTS, "AppointmentStatusChanged"),
    ),
    Subscription(
        "audit",
        ("detect_refusals",),
        "audit.detection",
        "audit",
        ("AuditAccessRefused",),
    ),
    Subscription(
        "audit",
        ("detect_sign_ins",),
        "audit.detection",
        "identity",
        ("TokenIssued", "AuthenticationFailed"),
    ),
    Subscription(
        "audit",
        ("detect_grants",),
        "audit.detection",
        "identity",
        (
            "ConnectorRegistered",
            "ConnectorAuthorized",
            "ConnectorAuthorizationRevoked",
            "PrincipalTrusted",
        ),
    ),
)

# Checked without an inbox: the ledger holds each event once, keyed by event id.
LEDGER_METHODS = ("ledger_identity", "ledger_booking", "ledger_notification", "ledger_audit")

# Not checkable after the fact, and why.
UNCHECKED = {
    ("booking", "on_access_revoked"): "drops cached principals in memory; no durable effect",
    ("audit", "on_access_revoked"): "drops cached principals in memory; no durable effect",
}
