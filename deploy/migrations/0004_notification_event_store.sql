-- depends: 0001_carnet_base
-- The notification service's event store: schema notification, role carnet_notification (see 0001_carnet_base).
CALL carnet.create_event_store('notification', 'carnet_notification');
