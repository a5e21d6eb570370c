"""Which schema describes which event: (type, version) -> schema, upcasters, routes, load/dump."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

from contracts.common import PRODUCERS, unknown_policy
from contracts.errors import (
    ContractError,
    ContractViolation,
    UnknownEventType,
    UnsupportedSchemaVersion,
)

__all__ = [
    "REGISTRY",
    "ContractError",
    "ContractViolation",
    "EventContract",
    "Registry",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "Upcaster",
    "dump_payload",
    "latest_version",
    "load_payload",
    "validate_for_publish",
]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
S = TypeVar("S", bound=type[Schema])
U = TypeVar("U", bound=Upcaster)

# A message is at most this large unless its contract says otherwise: far above any event a
# service emits (the largest, a page of 100 access entries, declares its own bound), far
# below what could exhaust a consumer. Consumers refuse bigger messages before decoding them.
DEFAULT_MAX_BYTES = 64 * 1024
_ROUTING_KEY = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class EventContract:
    """One version of one event type, and where it is published."""

    event_type: str
    version: int
    schema: type[Schema]
    producer: str
    routing_key: str
    max_bytes: int = DEFAULT_MAX_BYTES  # the JSON body's size, as relayed

    @property
    def exchange(self) -> str:
        """The producer's durable topic exchange (nameko's `<service>.events` convention)."""
        return f"{self.producer}.events"


class Registry:
    """Contracts by (type, version); producers dump and consumers load strictly."""

    def __init__(self) -> None:
        self._contracts: dict[tuple[str, int], EventContract] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    # -- registration -------------------------------------------------------------------

    def register(
        self,
        schema: type[Schema],
        *,
        event_type: str,
        version: int,
        producer: str,
        routing_key: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """Add one version; refuse anything that would make a type or a route ambiguous."""
        if not _EVENT_TYPE.match(event_type):
            raise ContractError(f"event type {event_type!r} must be PascalCase past tense")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ContractError(f"{event_type}: version must be an int >= 1, got {version!r}")
        if producer not in PRODUCERS:
            raise ContractError(f"{event_type}: unknown producer {producer!r}")
        if not _ROUTING_KEY.match(routing_key):
            raise ContractError(
                f"{event_type}: routing key {routing_key!r} is not <aggregate>.<verb>"
            )
        if (event_type, version) in self._contracts:
            raise ContractError(f"{event_type} v{version} is registered twice")
        for other in self._contracts.values():
            same_type = other.event_type == event_type
            same_route = (other.producer, other.routing_key) == (producer, routing_key)
            if same_type and not same_route:
                raise ContractError(f"{event_type}: every version must keep one route")
            # Routing keys are unique platform-wide, so a key alone names an event type
            # (and AsyncAPI channels, named by routing key, cannot collide).
            if other.routing_key == routing_key and not same_type:
                raise ContractError(f"{routing_key} already carries {other.event_type}")
        self._contracts[(event_type, version)] = EventContract(
            event_type, version, schema, producer, routing_key, max_bytes
        )

    def event(
        self,
        producer: str,
        event_type: str,
        version: int,
        routing_key: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Callable[[S], S]:
        """Class decorator form of `register`, so a schema states its own identity."""

        def decorate(schema: S) -> S:
            self.register(
                schema,
                event_type=event_type,
                version=version,
                producer=producer,
                routing_key=routing_key,
                max_bytes=max_bytes,
            )
            return schema

        return decorate

    def upcaster(self, event_type: str, from_version: int) -> Callable[[U], U]:
        """Register a pure function turning a v payload (JSON form) into a v+1 payload."""

        def decorate(function: U) -> U:
            key = (event_type, from_version)
            if key in self._upcasters:
                raise ContractError(f"{event_type} v{from_version} has two upcasters")
            self._upcasters[key] = function
            return function

        return decorate

    # -- lookup -------------------------------------------------------------------------

    def event_types(self) -> list[str]:
        """Every known type, by producer (identity, booking, notification, audit), then as added."""
        types = dict.fromkeys(t for t, _ in self._contracts)
        producer = {t: PRODUCERS.index(c.producer) for (t, _), c in self._contracts.items()}
        return sorted(types, key=lambda t: producer[t])

    def versions(self, event_type: str) -> list[int]:
        """Known versions of a type, oldest first."""
        found = sorted(v for t, v in self._contracts if t == event_type)
        if not found:
            raise UnknownEventType(event_type)
        return found

    def latest_version(self, event_type: str) -> int:
        """The version producers write and consumers are upcast to."""
        return self.versions(event_type)[-1]

    def contract(self, event_type: str, version: int | None = None) -> EventContract:
        """One version's contract (the latest if `version` is None)."""
        latest = self.latest_version(event_type)
        wanted = latest if version is None else version
        contract = self._contracts.get((event_type, wanted))
        if contract is None or isinstance(wanted, bool):
            raise UnsupportedSchemaVersion(event_type, wanted, latest)
        return contract

    def latest_contracts(self) -> list[EventContract]:
        """The latest contract of every type, in `event_types` order."""
        return [self.contract(t) for t in self.event_types()]

    def all_contracts(self) -> list[EventContract]:
        """Every registered version of every type, grouped by type, oldest first."""
        return [self.contract(t, v) for t in self.event_types() for v in self.versions(t)]

    def by_route(self, exchange: str, routing_key: str) -> EventContract:
        """The latest contract published on this exchange with this routing key."""
        for contract in self.latest_contracts():
            if (contract.exchange, contract.routing_key) == (exchange, routing_key):
                return contract
        raise UnknownEventType(f"{exchange}/{routing_key}")

    def check(self) -> None:
        """Fail unless every type has versions 1..latest and an upcaster for each step."""
        problems = []
        for event_type in self.event_types():
            versions = self.versions(event_type)
            if versions != list(range(1, versions[-1] + 1)):
                problems.append(f"{event_type}: versions {versions} are not 1..n")
            for v in versions[:-1]:
                if (event_type, v) not in self._upcasters:
                    problems.append(f"{event_type}: no upcaster from v{v}")
        for event_type, v in self._upcasters:
            if (event_type, v + 1) not in self._contracts:
                problems.append(f"{event_type}: upcaster from v{v} leads nowhere")
        if problems:
            raise ContractError("; ".join(problems))

    # -- payloads -----------------------------------------------------------------------

    def upcast(
        self, event_type: str, version: int, payload: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Raise an old payload (JSON form) to the latest version; stored data is never edited."""
        self.contract(event_type, version)  # unknown type / unsupported version fail here
        latest = self.latest_version(event_type)
        data = dict(payload)
        for v in range(version, latest):
            upcaster = self._upcasters.get((event_type, v))
            if upcaster is None:
                raise ContractError(f"{event_type}: no upcaster from v{v}")
            try:
                data = upcaster(dict(data))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                subject = f"{event_type} v{v}"
                raise ContractViolation(subject, {"_upcast": [repr(error)]}) from error
        return latest, data

    def validate_for_publish(
        self, event_type: str, payload: Mapping[str, Any], version: int | None = None
    ) -> None:
        """Producer side: refuse a payload with unknown, missing or malformed fields."""
        self._load(self.contract(event_type, version), payload, RAISE)

    def dump_payload(self, event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Producer side: validate strictly at the latest version and return the JSON form; an
        event larger than its contract allows is refused here, not by every consumer later."""
        contract = self.contract(event_type)
        dumped = contract.schema().dump(self._load(contract, payload, RAISE))
        size = len(json.dumps(dumped, separators=(",", ":")).encode())
        if size > contract.max_bytes:
            subject = f"{event_type} v{contract.version}"
            raise ContractViolation(subject, {"_size": [f"{size} bytes > {contract.max_bytes}"]})
        return dumped

    def load_payload(
        self, event_type: str, version: int, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Consumer side: the payload exactly as its declared version says (a field it does not
        declare is refused, as producers refuse it), upcast to the latest, typed."""
        if not isinstance(payload, Mapping):
            raise ContractViolation(f"{event_type} v{version}", {"_schema": ["Not an object."]})
        declared = self._load(self.contract(event_type, version), payload, RAISE)
        latest = self.latest_version(event_type)
        if version == latest:
            return declared
        # Upcasters read the JSON form; fields they drop or rename are theirs to decide.
        latest, data = self.upcast(event_type, version, payload)
        return self._load(self.contract(event_type, latest), data, EXCLUDE)

    @staticmethod
    def _load(contract: EventContract, payload: Any, policy: str) -> dict[str, Any]:
        """Load with one unknown-field policy for the whole tree; wrap marshmallow's error."""
        subject = f"{contract.event_type} v{contract.version}"
        if not isinstance(payload, Mapping):
            raise ContractViolation(subject, {"_schema": ["Not an object."]})
        try:
            with unknown_policy(policy):
                return contract.schema().load(payload, unknown=policy)
        except ValidationError as error:
            raise ContractViolation(subject, error.messages) from error


REGISTRY = Registry()


def latest_version(event_type: str) -> int:
    """The version producers write now (default registry)."""
    return REGISTRY.latest_version(event_type)


def dump_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Producer side, default registry: strict validation, JSON-ready result."""
    return REGISTRY.dump_payload(event_type, payload)


def validate_for_publish(
    event_type: str, payload: Mapping[str, Any], version: int | None = None
) -> None:
    """Producer side, default registry: raise ContractViolation on any unknown field."""
    REGISTRY.validate_for_publish(event_type, payload, version)


def load_payload(event_type: str, version: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Consumer side, default registry: strict at the declared version, upcast, load."""
    return REGISTRY.load_payload(event_type, version, payload)
