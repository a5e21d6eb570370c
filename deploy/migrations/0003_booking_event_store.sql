-- depends: 0001_carnet_base
-- The booking service's event store: schema booking, role carnet_booking (see 0001_carnet_base).
CALL carnet.create_event_store('booking', 'carnet_booking');
