"""Booking entrypoints: the recorded FHIR connector interface, slots, and identity's events."""

from __future__ import annotations

import uuid
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.web.handlers import http

from services.booking import directory, queries, quota
from services.booking.access import AccessRecorder, RequestInfo
from services.booking.context import Ctx, Settings, settings_from_config
from services.booking.crypto import KeyRing, MasterKey
from services.booking.reach import rpc_read_request, service_principal
from services.booking.routes import API
from services.booking.site import BookingSite
from services.common.logging import get_logger
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.broadcast import consume_broadcast
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import pool_of
from services.common.nameko_ext.http_api import HttpApi
from services.common.nameko_ext.identity_auth import IdentityAuth
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.nameko_ext.quorum_rpc import rpc
from services.common.principals import INVALIDATING_EVENTS

log = get_logger(__name__)
APPT = "/fhir/Appointment/<string:appointment_id>"


class KeyRingProvider(DependencyProvider):
    """The per-patient key ring; the service refuses to start without a master key."""

    def setup(self) -> None:
        """Fail at start, not at the first booking, when BOOKING_MASTER_KEY is missing."""
        text = str(self.container.config.get("BOOKING_MASTER_KEY") or "")
        if not text:
            raise RuntimeError("BOOKING_MASTER_KEY is not set (see docs/booking.md)")
        self.master = MasterKey.from_b64(text)
        self.ring: KeyRing | None = None

    def get_dependency(self, worker_ctx: Any) -> KeyRing:
        """Built on first use, when the pool has started."""
        if self.ring is None:
            self.ring = KeyRing(pool_of(self.container), self.master)
        return self.ring


class SettingsProvider(DependencyProvider):
    """Booking's settings, read once: the service refuses to start with a quota it cannot read."""

    def setup(self) -> None:
        """Fail at start, naming the key, rather than serve unmetered or guess a default."""
        try:
            self.settings = settings_from_config(self.container.config)
        except ValueError as error:
            raise RuntimeError(f"booking cannot start: {error}") from None

    def get_dependency(self, worker_ctx: Any) -> Settings:
        """The same settings for every worker."""
        return self.settings


class BookingService(CarnetService):
    """Owns agendas and appointments; every read of one is recorded first."""

    name = "booking"
    api = HttpApi(API)
    auth = IdentityAuth("BOOKING")
    keys = KeyRingProvider()
    inbox = InboxProvider()
    settings = SettingsProvider()

    def _ctx(self) -> Ctx:
        return Ctx(self.db, self.store, self.keys, AccessRecorder(self.store), self.settings)

    def site(self) -> BookingSite:
        """What the HTTP edge needs of booking for one request."""
        return BookingSite(self._ctx(), self.auth)

    @http("GET", APPT)
    def read_appointment(self, request: Any, appointment_id: str) -> Any:
        """One appointment, recorded before it is sent."""
        return self.api.serve(request, appointment_id=appointment_id)

    @http("GET", "/fhir/metadata")
    def fhir_metadata(self, request: Any) -> Any:
        """FHIR discovery: the CapabilityStatement (no token needed)."""
        return self.api.serve(request)

    @http("GET", "/fhir/.well-known/smart-configuration")
    def smart_configuration(self, request: Any) -> Any:
        """SMART discovery: the token endpoint and the scopes (no token needed)."""
        return self.api.serve(request)

    @http("GET", "/fhir/Appointment")
    def search_appointments(self, request: Any) -> Any:
        """A page of appointments within reach, recorded before it is sent."""
        return self.api.serve(request)

    @http("POST", "/fhir/Appointment")
    def book_appointment(self, request: Any) -> Any:
        """Book a free slot."""
        return self.api.serve(request)

    @http("PATCH", APPT)
    def patch_appointment(self, request: Any, appointment_id: str) -> Any:
        """Change status (arrived, fulfilled, noshow, cancelled) or slot (reschedule)."""
        return self.api.serve(request, appointment_id=appointment_id)

    @http("GET", "/fhir/Slot")
    def search_slots(self, request: Any) -> Any:
        """Free slots of practitioners within reach."""
        return self.api.serve(request)

    @http("POST", "/v1/practitioners/<string:practitioner_id>/slots")
    def open_slots(self, request: Any, practitioner_id: str) -> Any:
        """Open slots on a practitioner's agenda."""
        return self.api.serve(request, practitioner_id=practitioner_id)

    @http("DELETE", "/v1/patients/<string:patient_id>/medical-key")
    def destroy_medical_key(self, request: Any, patient_id: str) -> Any:
        """Admin: crypto-shred a patient's medical fields."""
        return self.api.serve(request, patient_id=patient_id)

    @rpc
    def read_appointment_for(self, appointment_id: str, caller: str, purpose: str) -> dict:
        """Another service reads one appointment (administrative fields), recorded as a service."""
        appointment = rpc_read_request(appointment_id, caller, purpose)
        info = RequestInfo(
            "127.0.0.1",
            f"rpc:{caller}"[:500],
            str(uuid.uuid4()),
            f"rpc read_appointment_for {appointment_id}",
            purpose,
        )
        return queries.read_for_service(self._ctx(), service_principal(caller), appointment, info)

    @consume_event("identity", ("PatientRegistered", "PractitionerRegistered"))
    def on_directory_event(self, event: Any) -> None:
        """Keep the names and contact details booking serves (inbox: once)."""
        apply = (
            directory.apply_patient
            if event.event_type == "PatientRegistered"
            else directory.apply_practitioner
        )
        self.inbox.once(event.event_id, lambda conn: apply(conn, event.payload))

    @consume_event("identity", "QuotaSet")
    def on_quota_set(self, event: Any) -> None:
        """An admin's quota or a throttle for one principal: booking enforces it (inbox: once)."""
        self.inbox.once(
            event.event_id,
            lambda conn: quota.apply_quota_set(conn, event.payload, event.event_id, event.position),
        )
        log.info(
            "quota.set",
            principal_kind=event.payload["principal_kind"],
            principal_id=str(event.payload["principal_id"]),
            reason=event.payload["reason"],
            per_hour=event.payload["per_hour"],
        )

    @consume_broadcast("identity", INVALIDATING_EVENTS)
    def on_access_revoked(self, event: Any) -> None:
        """Suspension, revoked grant, rotated secret: every replica forgets cached principals."""
        self.auth.forget_on(event, "booking.on_access_revoked")
