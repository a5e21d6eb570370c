"""Notification entrypoints: confirmations, reminders and breach notices over SMTP (issue #7)."""

from nameko.timer import timer

from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.batch_consumer import consume_batch
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.http_api import HttpApi
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.notification import handlers
from services.notification.channels import channels_from_config
from services.notification.routes import API
from services.notification.sender import Sender

APPOINTMENT_EVENTS = ("AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled")


class NotificationService(CarnetService):
    """Sends each message at most once per triggering event."""

    name = "notification"
    api = HttpApi(API)
    inbox = InboxProvider()

    @consume_batch("identity", "PatientRegistered")
    def on_patient_registered(self, events):
        """Contact details and language for later messages."""
        handlers.on_patient_registered(self.inbox, events)

    @consume_event("identity", "PractitionerRegistered")
    def on_practitioner_registered(self, event):
        """Practitioner names for messages."""
        handlers.on_practitioner_registered(self.inbox, event)

    @consume_batch("booking", APPOINTMENT_EVENTS)
    def on_appointment_event(self, events):
        """Confirmation, reschedule or cancellation notice; reminder kept in step."""
        handlers.on_appointment_event(self.inbox, events, handlers.reminder_lead(self.config))

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
