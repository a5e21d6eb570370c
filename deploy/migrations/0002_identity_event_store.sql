-- depends: 0001_carnet_base
-- The identity service's event store: schema identity, role carnet_identity (see 0001_carnet_base).
CALL carnet.create_event_store('identity', 'carnet_identity');
