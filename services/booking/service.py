"""Booking entrypoints: slots, appointments and the recorded FHIR connector interface (issue #5)."""

from services.common.nameko_ext.base import CarnetService


class BookingService(CarnetService):
    """Owns agendas and appointments; every read of one is recorded first."""

    name = "booking"
