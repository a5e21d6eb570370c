"""FHIR format negotiation: JSON is served, a request that admits no JSON is 406 (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.common.errors import NotAcceptable
from services.common.http.negotiate import require_json


@dataclass
class Asked:
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def params(self) -> list[tuple[str, str]]:
        return self.query


@pytest.mark.parametrize(
    "asked",
    [
        Asked(),
        Asked([("_format", "json")]),
        Asked([("_format", "application/fhir+json")], {"Accept": "text/xml"}),  # _format wins
        Asked(headers={"Accept": "application/fhir+json; fhirVersion=4.0"}),
        Asked(headers={"Accept": "text/html, */*;q=0.8"}),
        Asked(headers={"Accept": "application/*"}),
    ],
)
def test_json_or_anything_is_served(asked):
    require_json(asked)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "asked",
    [
        Asked([("_format", "xml")]),
        Asked([("_format", "ttl")], {"Accept": "application/json"}),
        Asked(headers={"Accept": "application/fhir+xml"}),
        Asked(headers={"Accept": "application/json;q=0, text/turtle"}),
        Asked(headers={"Accept": "application/fhir+json;q=0, */*"}),  # JSON refused outright
    ],
)
def test_a_request_that_admits_no_json_is_406(asked):
    with pytest.raises(NotAcceptable):
        require_json(asked)  # type: ignore[arg-type]
