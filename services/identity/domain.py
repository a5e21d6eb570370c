"""Identity's aggregates: pure decisions (command -> events) and state (events -> state), no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from uuid import UUID

from services.common.errors import Conflict, Invalid, NotFound
from services.common.eventstore.decided import Decided

APPOINTMENT_READ = "appointment:read"
APPOINTMENT_WRITE = "appointment:write"
APPOINTMENT_READ_MEDICAL = "appointment:read-medical"
CONNECTOR_SCOPES = (APPOINTMENT_READ, APPOINTMENT_WRITE, APPOINTMENT_READ_MEDICAL)
SUSPENSION_REASONS = ("suspicious_access", "operator_request", "contract_ended")


def normalise_scopes(scopes: Iterable[str]) -> list[str]:
    """Known connector scopes in canonical order; medical reading needs administrative reading."""
    wanted = set(scopes)
    unknown = wanted - set(CONNECTOR_SCOPES)
    if unknown:
        raise Invalid(f"unknown scopes: {sorted(unknown)}", code="invalid_scope")
    if not wanted:
        raise Invalid("at least one scope is required", code="invalid_scope")
    if APPOINTMENT_READ_MEDICAL in wanted and APPOINTMENT_READ not in wanted:
        raise Invalid(f"{APPOINTMENT_READ_MEDICAL} needs {APPOINTMENT_READ}", code="invalid_scope")
    return [s for s in CONNECTOR_SCOPES if s in wanted]


def scopes_to_grant(scopes: Sequence[str]) -> tuple[list[str], list[str]]:
    """ConnectorAuthorized V1 speaks operations x field classes; scopes map onto them exactly."""
    operations = [
        op for op, s in (("read", APPOINTMENT_READ), ("write", APPOINTMENT_WRITE)) if s in scopes
    ]
    classes = ["administrative"] + (["medical"] if APPOINTMENT_READ_MEDICAL in scopes else [])
    return operations, classes


def grant_to_scopes(operations: Sequence[str], field_classes: Sequence[str]) -> list[str]:
    """The inverse of scopes_to_grant, used when state is rebuilt from events."""
    scopes = set()
    if "read" in operations:
        scopes.add(APPOINTMENT_READ)
        if "medical" in field_classes:
            scopes.add(APPOINTMENT_READ_MEDICAL)
    if "write" in operations:
        scopes.add(APPOINTMENT_WRITE)
    return [s for s in CONNECTOR_SCOPES if s in scopes]


@dataclass(frozen=True)
class Grant:
    """What one practitioner lets one connector do on their agenda."""

    grant_id: UUID
    scopes: tuple[str, ...]


class Folded:
    """An aggregate rebuilt by folding its stream, event by event, into a fresh state."""

    def apply(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Fold one event into the state."""
        raise NotImplementedError

    @classmethod
    def from_events(cls, stream_id: UUID, events: Iterable[tuple[str, Mapping[str, Any]]]) -> Self:
        """Replay the aggregate's stream."""
        state = cls(stream_id)  # type: ignore[call-arg]  # every aggregate's first field is its id
        for event_type, data in events:
            state.apply(event_type, data)
        return state


@dataclass
class Connector(Folded):
    """Third-party software: its status and, per practitioner, the scopes granted to it."""

    connector_id: UUID
    version: int = 0
    client_id: str | None = None
    status: str = "new"
    grants: dict[UUID, Grant] = field(default_factory=dict)

    def apply(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Fold one event into the state; unknown types only move the version."""
        self.version += 1
        if event_type == "ConnectorRegistered":
            self.client_id, self.status = str(data["client_id"]), "active"
        elif event_type == "ConnectorAuthorized":
            scopes = grant_to_scopes(data["operations"], data["field_classes"])
            self.grants[UUID(str(data["practitioner_id"]))] = Grant(
                UUID(str(data["grant_id"])), tuple(scopes)
            )
        elif event_type == "ConnectorAuthorizationRevoked":
            self.grants.pop(UUID(str(data["practitioner_id"])), None)
        elif event_type == "ConnectorSuspended":
            self.status = "suspended"
        elif event_type == "ConnectorReinstated":
            self.status = "active"

    def _require_exists(self) -> None:
        if self.status == "new":
            raise NotFound("no such connector")

    def register(
        self, client_id: str, name: str, vendor: str, contact_email: str, by: UUID
    ) -> list[Decided]:
        """A new connector; registering twice is refused (ids are never reused)."""
        if self.status != "new":
            raise Conflict("connector already registered")
        payload = {
            "connector_id": str(self.connector_id),
            "client_id": client_id,
            "name": name,
            "vendor": vendor,
            "contact_email": contact_email,
            "registered_by": str(by),
        }
        return [("ConnectorRegistered", payload)]

    def authorize(
        self, practitioner_id: UUID, scopes: Sequence[str], by: UUID, grant_id: UUID
    ) -> list[Decided]:
        """Grant (or replace) scopes; the same scopes again decide nothing (idempotent)."""
        self._require_exists()
        wanted = tuple(normalise_scopes(scopes))
        current = self.grants.get(practitioner_id)
        if current is not None and current.scopes == wanted:
            return []
        operations, classes = scopes_to_grant(wanted)
        payload = {
            "grant_id": str(grant_id),
            "connector_id": str(self.connector_id),
            "practitioner_id": str(practitioner_id),
            "operations": operations,
            "field_classes": classes,
            "granted_by": str(by),
            "expires_at": None,
        }
        return [("ConnectorAuthorized", payload)]

    def revoke(self, practitioner_id: UUID, by: UUID) -> list[Decided]:
        """Withdraw a practitioner's grant; no grant, nothing to decide."""
        self._require_exists()
        current = self.grants.get(practitioner_id)
        if current is None:
            return []
        payload = {
            "grant_id": str(current.grant_id),
            "connector_id": str(self.connector_id),
            "practitioner_id": str(practitioner_id),
            "revoked_by": str(by),
        }
        return [("ConnectorAuthorizationRevoked", payload)]

    def suspend(
        self, reason: str, by: UUID | None, detection_id: UUID | None, token_ids: Sequence[UUID]
    ) -> list[Decided]:
        """Stop the connector and revoke its live tokens; already suspended, nothing to do."""
        self._require_exists()
        if reason not in SUSPENSION_REASONS:
            raise Invalid(f"reason must be one of {list(SUSPENSION_REASONS)}")
        if self.status == "suspended":
            return []
        payload = {
            "connector_id": str(self.connector_id),
            "reason": reason,
            "suspended_by": str(by) if by else None,
            "detection_id": str(detection_id) if detection_id else None,
            "revoked_token_ids": sorted(str(t) for t in token_ids),
        }
        return [("ConnectorSuspended", payload)]

    def reinstate(self, by: UUID) -> list[Decided]:
        """An explicit act lets a suspended connector back in; an active one is left alone."""
        self._require_exists()
        if self.status != "suspended":
            return []
        return [
            (
                "ConnectorReinstated",
                {"connector_id": str(self.connector_id), "reinstated_by": str(by)},
            )
        ]

    def rotate_secret(self, by: UUID, token_ids: Sequence[UUID]) -> list[Decided]:
        """A new secret always rotates (the caller may fear a leak); old tokens go with it."""
        self._require_exists()
        payload = {
            "connector_id": str(self.connector_id),
            "rotated_by": str(by),
            "revoked_token_ids": sorted(str(t) for t in token_ids),
        }
        return [("ConnectorSecretRotated", payload)]

    def reach(self, token_scopes: Sequence[str]) -> dict[str, list[str]]:
        """Per scope of the token, the practitioners whose grant includes it."""
        return {
            scope: sorted(str(p) for p, g in self.grants.items() if scope in g.scopes)
            for scope in token_scopes
        }


ACCOUNT_REGISTERED = {
    "PractitionerRegistered": "practitioner",
    "PatientRegistered": "patient",
    "StaffRegistered": "staff",
}


@dataclass
class Account(Folded):
    """A person's account (practitioner, patient, staff): whether it may act at all."""

    principal_id: UUID
    kind: str | None = None
    version: int = 0
    status: str = "new"

    def apply(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Fold one event; profile and credential events only move the version."""
        self.version += 1
        if event_type in ACCOUNT_REGISTERED:
            self.kind, self.status = ACCOUNT_REGISTERED[event_type], "active"
        elif event_type == "AccountSuspended":
            self.status = "suspended"
        elif event_type == "AccountReinstated":
            self.status = "active"

    def _subject(self) -> dict[str, str]:
        if self.status == "new":
            raise NotFound("no such account")
        return {"principal_id": str(self.principal_id), "principal_kind": str(self.kind)}

    def suspend(
        self, reason: str, by: UUID | None, detection_id: UUID | None, token_ids: Sequence[UUID]
    ) -> list[Decided]:
        """Stop the account and revoke its live tokens; already suspended, nothing to do."""
        subject = self._subject()
        if reason not in SUSPENSION_REASONS:
            raise Invalid(f"reason must be one of {list(SUSPENSION_REASONS)}")
        if self.status == "suspended":
            return []
        payload = {
            **subject,
            "reason": reason,
            "suspended_by": str(by) if by else None,
            "detection_id": str(detection_id) if detection_id else None,
            "revoked_token_ids": sorted(str(t) for t in token_ids),
        }
        return [("AccountSuspended", payload)]

    def reinstate(self, by: UUID) -> list[Decided]:
        """An explicit act lets a suspended account back in; an active one is left alone."""
        subject = self._subject()
        if self.status != "suspended":
            return []
        return [("AccountReinstated", {**subject, "reinstated_by": str(by)})]

    def reset_credentials(
        self, by: UUID | None, detection_id: UUID | None, token_ids: Sequence[UUID]
    ) -> list[Decided]:
        """A reset always happens (the caller may fear a stolen password); tokens go with it."""
        payload = {
            **self._subject(),
            "reset_by": str(by) if by else None,
            "detection_id": str(detection_id) if detection_id else None,
            "revoked_token_ids": sorted(str(t) for t in token_ids),
        }
        return [("CredentialsReset", payload)]

    def set_password(self, by: UUID) -> list[Decided]:
        """A new password is an act on who may sign in: recorded, never its value."""
        return [("CredentialsSet", {**self._subject(), "set_by": str(by)})]
