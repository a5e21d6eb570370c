"""Booking's aggregates: they fold events into state and decide new events; they do no I/O.

Three kinds of stream: `agenda-<practitioner>` (SlotsOpened: opening is serialised per
practitioner, so two openings cannot overlap), `slot-<slot>` (SlotHeld/SlotReleased: the
version check on this stream is what makes double booking impossible) and
`appointment-<id>` (the appointment's life). Payloads here are in contract JSON form.

`decision` is what every decide returns (or raises), `slots` the agenda and slot streams,
`appointments` an appointment's life, booking included.
"""
