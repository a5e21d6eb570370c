"""Notification entrypoints: confirmations, reminders and breach notices over SMTP (issue #7)."""

from nameko.timer import timer
from nameko.web.handlers import http

from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.health import json_response
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.openapi_health import document
from services.notification import handlers
from services.notification.channels import channels_from_config
from services.notification.sender import Sender

APPOINTMENT_EVENTS = ("AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled")


class NotificationService(CarnetService):
    """Sends each message at most once per triggering event."""

    name = "notification"
    inbox = InboxProvider()

    @http("GET", "/openapi.json")
    def openapi_json(self, request):
        """Its HTTP interface is health and metrics only; the document says so."""
        return json_response(200, document(self.name))

    @consume_event("identity", "PatientRegistered")
    def on_patient_registered(self, event):
        """Contact details and language for later messages."""
        handlers.on_patient_registered(self.inbox, event)

    @consume_event("identity", "PractitionerRegistered")
    def on_practitioner_registered(self, event):
        """Practitioner names for messages."""
        handlers.on_practitioner_registered(self.inbox, event)

    @consume_event("booking", APPOINTMENT_EVENTS)
    def on_appointment_event(self, event):
        """Confirmation, reschedule or cancellation notice; reminder kept in step."""
        handlers.on_appointment_event(self.inbox, event, handlers.reminder_lead(self.config))

    @consume_event("audit", "BreachNotificationRequested")
    def on_breach_notification_requested(self, event):
        """One GDPR Art. 34 notice per affected patient and incident."""
        handlers.on_breach_notification_requested(self.inbox, event)

    @timer(interval=1.0)
    def send_due(self):
        """Deliver what is due; replicas share the work by lease (SKIP LOCKED)."""
        sender = Sender(
            self.db,
            self.store,
            channels_from_config(self.config),
            handlers.settings_from_config(self.config),
        )
        sender.send_due()
