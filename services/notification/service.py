"""Notification entrypoints: confirmations, reminders and breach notices over SMTP (issue #7)."""

from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.batch_consumer import consume_batch
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.http_api import HttpApi
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.notification import handlers
from services.notification.channels import Channel, channels_from_config
from services.notification.routes import API
from services.notification.sender import Sender

APPOINTMENT_EVENTS = ("AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled")


class Channels(DependencyProvider):
    """The delivery channels, built once: the SMTP session stays open between messages."""

    def setup(self) -> None:
        """Built from the config; nothing connects before the first message."""
        self.channels = channels_from_config(self.container.config)

    def stop(self) -> None:
        """End the SMTP session (QUIT) once the workers are done."""
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()

    def kill(self) -> None:
        """As stop."""
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> dict[str, Channel]:
        """The same channels for every worker."""
        return self.channels


class NotificationService(CarnetService):
    """Sends each message at most once per triggering event."""

    name = "notification"
    api = HttpApi(API)
    inbox = InboxProvider()
    channels = Channels()

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
            self.channels,
            handlers.settings_from_config(self.config),
        )
        sender.send_due()
