"""The AsyncAPI export: valid against the official 2.6.0 schema, and exactly the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft7Validator

from contracts import REGISTRY
from contracts.asyncapi import build_document, message_id
from services.cli.contracts_cmd import contracts
from tests.contract.examples import EXAMPLES, PATIENT_REGISTERED_V1

HERE = Path(__file__).parent
SPEC = json.loads((HERE / "asyncapi-2.6.0.schema.json").read_text())
BINDINGS = HERE / "asyncapi-bindings-amqp-0.2.0"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Through JSON, as a consumer would read it: no tuples, no Python-only values.
    return json.loads(json.dumps(build_document()))


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def _resolve(document: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    node: Any = document
    for part in ref["$ref"].removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_document_is_valid_asyncapi_2_6_0(document: dict[str, Any]) -> None:
    Draft7Validator.check_schema(SPEC)
    assert _errors(SPEC, document) == []
    assert document["asyncapi"] == "2.6.0"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("info"),
        lambda d: d["channels"]["appointment.booked"].update(publishh={}),
        lambda d: d["components"]["messages"]["AppointmentBookedV1"].update(
            correlationId={"location": "header.correlation_id"}
        ),
    ],
)
def test_the_spec_check_is_not_vacuous(document: dict[str, Any], breakage: Any) -> None:
    broken = json.loads(json.dumps(document))
    breakage(broken)
    assert _errors(SPEC, broken) != []


def test_amqp_bindings_are_valid(document: dict[str, Any]) -> None:
    kinds = {
        k: json.loads((BINDINGS / f"{k}.json").read_text())
        for k in ("channel", "operation", "message")
    }
    for channel in document["channels"].values():
        assert _errors(kinds["channel"], channel["bindings"]["amqp"]) == []
        assert _errors(kinds["operation"], channel["subscribe"]["bindings"]["amqp"]) == []
    for message in document["components"]["messages"].values():
        assert _errors(kinds["message"], message["bindings"]["amqp"]) == []


def test_channels_are_exactly_the_registry(document: dict[str, Any]) -> None:
    in_document = set()
    for name, channel in document["channels"].items():
        amqp = channel["bindings"]["amqp"]
        assert amqp["is"] == "routingKey"
        assert amqp["exchange"]["type"] == "topic"
        assert amqp["exchange"]["durable"] is True
        message = channel["subscribe"]["message"]
        refs = message.get("oneOf", [message])
        types = {_resolve(document, ref)["name"] for ref in refs}
        assert len(types) == 1
        in_document.add((types.pop(), amqp["exchange"]["name"], name))
    in_registry = {(c.event_type, c.exchange, c.routing_key) for c in REGISTRY.latest_contracts()}
    assert in_document == in_registry


def test_every_version_is_a_message(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert set(messages) == {message_id(c) for c in REGISTRY.all_contracts()}
    assert "PatientRegisteredV1" in messages
    assert "PatientRegisteredV2" in messages
    refs = document["channels"]["patient.registered"]["subscribe"]["message"]["oneOf"]
    assert refs[0] == {"$ref": "#/components/messages/PatientRegisteredV3"}


def test_messages_carry_headers_and_correlation(document: dict[str, Any]) -> None:
    for contract in REGISTRY.all_contracts():
        message = document["components"]["messages"][message_id(contract)]
        assert message["name"] == contract.event_type
        assert message["correlationId"]["location"] == "$message.header#/correlation_id"
        headers = message["headers"]["properties"]
        assert {"schema_version", "causation_id", "stream", "position"} <= set(headers)
        assert headers["schema_version"]["const"] == contract.version
        assert message["x-carnet-max-bytes"] == contract.max_bytes  # the bound consumers apply


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_examples_satisfy_the_generated_payload_schema(
    document: dict[str, Any], event_type: str
) -> None:
    contract = REGISTRY.contract(event_type)
    payload_schema = document["components"]["messages"][message_id(contract)]["payload"]
    assert _errors(payload_schema, EXAMPLES[event_type]) == []
    assert _errors(payload_schema, {**EXAMPLES[event_type], "surprise": 1}) != []


def test_old_version_example_satisfies_its_own_payload_schema(document: dict[str, Any]) -> None:
    payload_schema = document["components"]["messages"]["PatientRegisteredV1"]["payload"]
    assert _errors(payload_schema, PATIENT_REGISTERED_V1) == []


def test_generated_schema_catches_what_the_contract_catches(document: dict[str, Any]) -> None:
    accessed = document["components"]["messages"]["AppointmentsAccessedV1"]["payload"]
    bad = {**EXAMPLES["AppointmentsAccessed"], "field_classes": ["genetic"]}
    assert _errors(accessed, bad) != []
    booked = document["components"]["messages"]["AppointmentBookedV1"]["payload"]
    assert _errors(booked, {**EXAMPLES["AppointmentBooked"], "reason": "plain"}) != []
    assert booked["properties"]["reason"]["x-data-class"] == "medical"


def test_cli_writes_yaml_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(contracts, ["asyncapi", "--output", str(tmp_path / "doc.yaml")])
    assert result.exit_code == 0, result.output
    from_yaml = yaml.safe_load((tmp_path / "doc.yaml").read_text())
    result = runner.invoke(contracts, ["asyncapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == from_yaml
    assert _errors(SPEC, from_yaml) == []


def test_cli_lists_every_type() -> None:
    result = CliRunner().invoke(contracts, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["TYPE", "VERSION", "EXCHANGE", "ROUTING", "KEY"]
    assert ["PatientRegistered", "3", "identity.events", "patient.registered"] in [
        line.split() for line in lines
    ]
    assert len(lines) == 1 + len(REGISTRY.event_types())


@pytest.mark.parametrize("args", [["--help"], ["asyncapi", "--help"], ["list", "--help"]])
def test_every_command_has_help(args: list[str]) -> None:
    result = CliRunner().invoke(contracts, args)
    assert result.exit_code == 0
    assert "Usage:" in result.output
