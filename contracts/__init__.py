"""Carnet's shared vocabulary: versioned event schemas, the envelope, the registry.

Importing this package registers every service's contracts into `REGISTRY`; nothing here
connects to anything, and nothing here imports nameko, eventlet or `services`.
"""

from contracts import (
    audit,
    audit_access,
    audit_containment,
    booking,
    booking_access,
    identity,
    identity_accounts,
    notification,
)
from contracts.envelope import (
    Envelope,
    dump_envelope,
    load_envelope,
    message_headers,
    message_properties,
    new_envelope,
)
from contracts.errors import (
    ContractError,
    ContractViolation,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from contracts.registry import (
    REGISTRY,
    EventContract,
    Registry,
    dump_payload,
    latest_version,
    load_payload,
    validate_for_publish,
)

__all__ = [
    "REGISTRY",
    "ContractError",
    "ContractViolation",
    "Envelope",
    "EventContract",
    "Registry",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "audit",
    "audit_access",
    "audit_containment",
    "booking",
    "booking_access",
    "dump_envelope",
    "dump_payload",
    "identity",
    "identity_accounts",
    "latest_version",
    "load_envelope",
    "load_payload",
    "message_headers",
    "message_properties",
    "new_envelope",
    "notification",
    "validate_for_publish",
]
