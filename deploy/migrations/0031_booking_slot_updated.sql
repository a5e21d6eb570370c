-- depends: 0019_booking_quotas
-- A Slot's meta.lastUpdated (issue #19: every resource carries one): when its slot was opened,
-- held or released last, by the event's time, as the fold writes it from now on. Rows already
-- there get it from booking's log; a slot the log does not explain keeps NULL until
-- `carnet replay rebuild booking.views` folds it again (the FHIR Slot then omits the field).
ALTER TABLE booking.slots ADD COLUMN updated_at timestamptz;

UPDATE booking.slots s SET updated_at = o.at
FROM (
    SELECT (slot ->> 'slot_id')::uuid AS slot_id,
           max(coalesce((e.metadata ->> 'occurred_at')::timestamptz, e.recorded_at)) AS at
    FROM booking.events e, jsonb_array_elements(e.data -> 'slots') AS slot
    WHERE e.event_type = 'SlotsOpened'
    GROUP BY 1
) o
WHERE s.slot_id = o.slot_id;

UPDATE booking.slots s SET updated_at = greatest(s.updated_at, h.at)
FROM (
    SELECT (e.data ->> 'slot_id')::uuid AS slot_id,
           max(coalesce((e.metadata ->> 'occurred_at')::timestamptz, e.recorded_at)) AS at
    FROM booking.events e
    WHERE e.event_type IN ('SlotHeld', 'SlotReleased')
    GROUP BY 1
) h
WHERE s.slot_id = h.slot_id;
