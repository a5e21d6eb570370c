"""Booking entrypoints: the recorded FHIR connector interface, slots, and identity's events."""

from __future__ import annotations

import json
import uuid
from typing import Any

import eventlet
from kombu.exceptions import OperationalError as BrokerUnavailable
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.booking import api, directory, openapi, reads, routes
from services.booking.access import AccessRecorder, RequestInfo
from services.booking.context import Ctx, settings_from_config
from services.booking.crypto import KeyRing, MasterKey
from services.booking.reach import Principal, from_identity, rpc_read_request, service_principal
from services.common.logging import bind_context, get_logger
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import pool_of
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.principals import INVALIDATING_EVENTS, PrincipalCache, token_sha256

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


class PrincipalCacheProvider(DependencyProvider):
    """One short-lived principal cache per process, dropped on identity's events."""

    def setup(self) -> None:
        """TTL from config, capped at a second (docs/booking.md)."""
        ttl = settings_from_config(self.container.config).principal_ttl_s
        self.cache = PrincipalCache(ttl_s=ttl)  # each worker passes its own RPC proxy

    def get_dependency(self, worker_ctx: Any) -> PrincipalCache:
        """The same cache for every worker."""
        return self.cache


def _response(r: api.Response, request_id: str) -> Response:
    headers = {**r.headers, "X-Request-ID": request_id}
    body = "" if r.body is None else json.dumps(r.body)
    return Response(body, r.status, headers, mimetype=r.media_type)


class BookingService(CarnetService):
    """Owns agendas and appointments; every read of one is recorded first."""

    name = "booking"
    identity = RpcProxy("identity")
    keys = KeyRingProvider()
    principals = PrincipalCacheProvider()
    inbox = InboxProvider()

    def _ctx(self) -> Ctx:
        return Ctx(
            self.db,
            self.store,
            self.keys,
            AccessRecorder(self.store),
            settings_from_config(self.config),
        )

    def _ask_identity(self, token: str) -> dict[str, Any]:
        """identity's RPC with the token's SHA-256: the bearer token never rides the bus."""
        return self.identity.authenticate(token_sha256=token_sha256(token))

    def _authenticate(self, token: str, timeout_s: float) -> Principal:
        """identity.authenticate through the cache; a refusal is 401, silence 503."""
        try:
            with eventlet.Timeout(timeout_s):
                answer = self.principals.get(token, authenticate=self._ask_identity)
        except (eventlet.Timeout, BrokerUnavailable, OSError):
            # Silence, or the broker down (the RPC cannot even be sent): retry later.
            raise api.IdentityUnavailable() from None
        except RemoteError as error:
            if error.exc_type == "AuthenticationError":
                raise api.Unauthenticated(f"token refused: {error.value}") from None
            raise api.IdentityUnavailable() from None
        return from_identity(answer)

    def _serve(self, request: Any, fn: routes.RouteFn, **path_args: str) -> Response:
        """Read at most the body limit, authenticate, run the route, map every error."""
        ctx = self._ctx()
        request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
        base = ctx.settings.public_base_url or request.host_url.rstrip("/")
        limit, body = ctx.settings.max_body_bytes, b""
        if (request.content_length or 0) <= limit:
            body = request.stream.read(limit + 1)
        req = api.Request(
            method=request.method,
            path=request.path,
            query_string=request.query_string.decode("latin-1"),
            headers=dict(request.headers.items()),
            body=body,
            remote_addr=request.remote_addr or "0.0.0.0",  # noqa: S104 (an address, not a bind)
            request_id=request_id[:200],
            base_url=base,
            path_args=path_args,
        )
        bind_context(request_id=req.request_id)

        def run() -> api.Response:
            if (request.content_length or 0) > limit or len(body) > limit:
                raise api.ApiError(413, "too-costly", f"body over {limit} bytes")
            token = req.bearer()
            if token is None:
                raise api.Unauthenticated("send Authorization: Bearer <token>")
            principal = self._authenticate(token, ctx.settings.identity_timeout_s)
            bind_context(principal_kind=principal.kind, principal_id=str(principal.id))
            return fn(ctx, req, principal)

        return _response(api.respond(req, run), req.request_id)

    @http("GET", "/openapi.json")
    def openapi_json(self, request: Any) -> Response:
        """The OpenAPI 3.1 document of this interface (public, like health)."""
        return Response(json.dumps(openapi.document()), 200, mimetype=api.JSON)

    @http("GET", APPT)
    def read_appointment(self, request: Any, appointment_id: str) -> Response:
        """One appointment, recorded before it is sent."""
        return self._serve(request, routes.read_appointment, appointment_id=appointment_id)

    @http("GET", "/fhir/Appointment")
    def search_appointments(self, request: Any) -> Response:
        """A page of appointments within reach, recorded before it is sent."""
        return self._serve(request, routes.search_appointments)

    @http("POST", "/fhir/Appointment")
    def book(self, request: Any) -> Response:
        """Book a free slot."""
        return self._serve(request, routes.book)

    @http("PATCH", APPT)
    def patch_appointment(self, request: Any, appointment_id: str) -> Response:
        """Change status (arrived, fulfilled, noshow, cancelled) or slot (reschedule)."""
        return self._serve(request, routes.patch_appointment, appointment_id=appointment_id)

    @http("GET", "/fhir/Slot")
    def search_slots(self, request: Any) -> Response:
        """Free slots of practitioners within reach."""
        return self._serve(request, routes.search_slots)

    @http("POST", "/v1/practitioners/<string:practitioner_id>/slots")
    def open_slots(self, request: Any, practitioner_id: str) -> Response:
        """Open slots on a practitioner's agenda."""
        return self._serve(request, routes.open_slots, practitioner_id=practitioner_id)

    @http("DELETE", "/v1/patients/<string:patient_id>/medical-key")
    def destroy_medical_key(self, request: Any, patient_id: str) -> Response:
        """Admin: crypto-shred a patient's medical fields."""
        return self._serve(request, routes.destroy_medical_key, patient_id=patient_id)

    @rpc
    def read_appointment_for(self, appointment_id: str, caller: str, purpose: str) -> dict:
        """Another service reads one appointment (administrative fields), recorded as a service."""
        appointment = rpc_read_request(appointment_id, caller, purpose)
        ctx = self._ctx()
        info = RequestInfo(
            "127.0.0.1",
            f"rpc:{caller}"[:500],
            str(uuid.uuid4()),
            f"rpc read_appointment_for {appointment_id}",
            purpose,
        )
        resource, _ = reads.read_one(ctx, service_principal(caller), appointment, info)
        return resource

    @consume_event("identity", ("PatientRegistered", "PractitionerRegistered"))
    def on_directory_event(self, event: Any) -> None:
        """Keep the names and contact details booking serves (inbox: once)."""
        apply = (
            directory.apply_patient
            if event.event_type == "PatientRegistered"
            else directory.apply_practitioner
        )
        self.inbox.once(event.event_id, lambda conn: apply(conn, event.payload))

    @consume_event("identity", INVALIDATING_EVENTS)
    def on_access_revoked(self, event: Any) -> None:
        """Suspension, revoked grant, rotated secret: forget cached principals at once."""
        dropped = self.principals.on_identity_event(event.event_type, event.payload)
        log.info("principals.dropped", event_type=event.event_type, dropped=dropped)
