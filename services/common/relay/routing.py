"""Routing keys for the relay: from the contract registry, or derived when a type is unknown."""

from __future__ import annotations

from contracts.errors import UnknownEventType
from contracts.registry import REGISTRY
from services.common.logging import get_logger
from services.common.relay.messages import default_routing_key

log = get_logger(__name__)


def routing_key_for(event_type: str) -> str:
    """The contract's key; an unregistered type still goes out (never block the log)."""
    try:
        return REGISTRY.contract(event_type).routing_key
    except UnknownEventType:
        log.warning("relay.unregistered_event_type", event_type=event_type)
        return default_routing_key(event_type)
