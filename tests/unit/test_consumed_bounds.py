"""A message larger than its contract allows, or carrying a field its version does not declare,
is poison (#18): it is dead-lettered with that reason, never applied or ledgered."""

from __future__ import annotations

import copy

import pytest

from contracts.errors import ContractViolation
from contracts.registry import DEFAULT_MAX_BYTES, REGISTRY
from services.common.consumed import PoisonMessage, decode
from tests.contract.examples import EXAMPLES
from tests.support.events import delivered


def with_payload(event_type: str, payload: object) -> tuple:
    return delivered(event_type, payload)


def reason(args: tuple) -> str:
    with pytest.raises(PoisonMessage) as caught:
        decode(*args)
    return caught.value.reason


@pytest.mark.parametrize("event_type", REGISTRY.event_types())
def test_a_valid_event_padded_past_its_bound_is_oversized(event_type):
    padding = "x" * REGISTRY.contract(event_type).max_bytes
    assert reason(with_payload(event_type, {**EXAMPLES[event_type], "pad": padding})) == "oversized"


def test_size_is_checked_before_the_body_is_read_as_json():
    garbage = b"\xff" * (DEFAULT_MAX_BYTES + 1)
    assert reason(delivered("PatientRegistered", garbage)) == "oversized"


@pytest.mark.parametrize("event_type", REGISTRY.event_types())
def test_one_small_undeclared_field_is_refused(event_type):
    assert reason(with_payload(event_type, {**EXAMPLES[event_type], "x": 1})) == "undeclared-fields"


def test_an_undeclared_nested_field_is_refused_too():
    payload = copy.deepcopy(EXAMPLES["AppointmentBooked"])
    payload["reason"]["algorithm"] = "future"
    assert reason(with_payload("AppointmentBooked", payload)) == "undeclared-fields"


def test_an_undeclared_field_beside_a_missing_one_is_schema_invalid():
    payload = {**EXAMPLES["PatientRegistered"], "x": 1}
    del payload["patient_id"]
    assert reason(with_payload("PatientRegistered", payload)) == "schema-invalid"


def test_a_producer_cannot_append_an_event_its_consumers_would_refuse():
    example = EXAMPLES["AppointmentsAccessed"]
    entries = [e for _ in range(2000) for e in example["entries"]]  # far past a page of 100
    with pytest.raises(ContractViolation, match="bytes >"):
        REGISTRY.dump_payload("AppointmentsAccessed", {**example, "entries": entries})
    assert REGISTRY.dump_payload("AppointmentsAccessed", example)  # the usual size passes
