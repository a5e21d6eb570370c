-- depends: 0001_carnet_base
-- The audit service's event store: schema audit, role carnet_audit (see 0001_carnet_base).
CALL carnet.create_event_store('audit', 'carnet_audit');
