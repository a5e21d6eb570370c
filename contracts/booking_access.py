"""AppointmentsAccessed V3: every attempt is evidence, with what it aimed at (issue #19).

V2 recorded successful reads and refusals by reach. V3 also records what detection and an
investigator could not see before: a bearer token identity refused (401: no principal, a
token fingerprint, never the token), an id that does not exist (404), a read over quota
(429); and a refused read names the appointments it aimed at when they exist (`targets`), so
a patient's access list shows attempts on their appointments, not only successes.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.booking import (
    ACCESS_MAX_BYTES,
    ACCESSOR_KINDS,
    SERVICE,
    AccessedEntryV1,
    AppointmentsAccessedV2,
)
from contracts.common import Nested
from contracts.registry import REGISTRY

# Why a read was refused, for rules to count without parsing sentences.
DENIAL_CODES = ("reach", "forbidden", "not_found", "quota", "unauthenticated")
# Words booking's reach refusals use ("outside your reach", "no read grant", "no write access",
# "their own appointments"): how V2 refusals are classed when upcast.
REACH_WORDS = ("reach", "grant", "write access", "their own")
MAX_TARGETS = 100
FINGERPRINT = validate.Regexp(r"^[0-9a-f]{16}$", error="Not a 16-hex-digit fingerprint.")


class AccessTargetV3(AccessedEntryV1):
    """An appointment a refused request aimed at, with its patient and practitioner."""


@REGISTRY.event(SERVICE, "AppointmentsAccessed", 3, "appointments.accessed", ACCESS_MAX_BYTES)
class AppointmentsAccessedV3(AppointmentsAccessedV2):
    """V2 plus refused credentials, unknown ids and quota refusals as evidence, with targets."""

    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCESSOR_KINDS))
    principal_id = fields.UUID(required=True, allow_none=True)  # None: no known principal (401)
    # The presented bearer token's fingerprint (services/common/principals.py
    # token_fingerprint: domain-separated, 64 bits): one token's attempts are linked, and
    # nothing that could authenticate is stored. None when no token was sent.
    token_fingerprint = fields.String(required=True, allow_none=True, validate=FINGERPRINT)
    denial_code = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(DENIAL_CODES)
    )
    targets = fields.List(
        Nested(AccessTargetV3), required=True, validate=validate.Length(max=MAX_TARGETS)
    )

    @validates_schema
    def _refusals_say_why(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A refusal has a code, a success none; only a refusal has targets."""
        denied = data.get("outcome") == "denied"
        if denied != (data.get("denial_code") is not None):
            raise ValidationError(
                "denial_code is set exactly when outcome is denied", "denial_code"
            )
        if not denied and data.get("targets"):
            raise ValidationError("only a refused access has targets", "targets")
        if data.get("principal_id") is None and data.get("principal_kind") != "unknown":
            raise ValidationError("a record without principal is of kind unknown", "principal_id")


def denial_code_of(reason: str | None) -> str:
    """How a V2 refusal's sentence is classed: by reach, or another refusal."""
    text = (reason or "").lower()
    return "reach" if any(word in text for word in REACH_WORDS) else "forbidden"


@REGISTRY.upcaster("AppointmentsAccessed", from_version=2)
def appointments_accessed_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """V2 knew every principal and recorded no target; its refusals are classed by their reason."""
    denied = payload.get("outcome") == "denied"
    return {
        **payload,
        "token_fingerprint": None,
        "denial_code": denial_code_of(payload.get("denial_reason")) if denied else None,
        "targets": [],
    }


__all__ = [
    "DENIAL_CODES",
    "MAX_TARGETS",
    "REACH_WORDS",
    "AccessTargetV3",
    "AppointmentsAccessedV3",
    "appointments_accessed_v2_to_v3",
    "denial_code_of",
]
