"""SuspiciousAccessDetected V2: V1 detections upcast to the D-rules; evidence is bounded."""

from __future__ import annotations

import copy

import pytest

from contracts.audit import RULES_V1_TO_V2
from contracts.errors import ContractViolation
from contracts.registry import REGISTRY
from tests.contract.examples import (
    EXAMPLES,
    SUSPICIOUS_ACCESS_DETECTED_V1,
    SUSPICIOUS_ACCESS_DETECTED_V2,
    fake_id,
)

V2 = EXAMPLES["SuspiciousAccessDetected"]


def test_v3_is_the_latest_and_older_versions_stay_valid_for_republishing() -> None:
    assert REGISTRY.latest_version("SuspiciousAccessDetected") == 3
    REGISTRY.validate_for_publish("SuspiciousAccessDetected", SUSPICIOUS_ACCESS_DETECTED_V1, 1)
    REGISTRY.validate_for_publish("SuspiciousAccessDetected", SUSPICIOUS_ACCESS_DETECTED_V2, 2)


@pytest.mark.parametrize(("old", "new"), sorted(RULES_V1_TO_V2.items()))
def test_v1_rules_upcast_to_their_d_rule(old: str, new: str) -> None:
    v1 = {**SUSPICIOUS_ACCESS_DETECTED_V1, "rule": old}
    loaded = REGISTRY.load_payload("SuspiciousAccessDetected", 1, v1)
    assert loaded["rule"] == new and loaded["recommended_action"] == "suspend"
    evidence = loaded["evidence"]
    assert evidence["access_count"] == 6000 and evidence["baseline"] == 40.5
    assert evidence["distinct_patients"] is None and evidence["threshold"] is None
    assert [str(a) for a in evidence["access_ids"]] == v1["access_ids"]
    assert evidence["window_start"].isoformat() == v1["window_start"]


def test_v1_actions_map_onto_suspend_or_review_and_the_input_is_untouched() -> None:
    v1 = {**SUSPICIOUS_ACCESS_DETECTED_V1, "recommended_action": "none"}
    before = copy.deepcopy(v1)
    _, upcast = REGISTRY.upcast("SuspiciousAccessDetected", 1, v1)
    assert upcast["recommended_action"] == "review" and v1 == before


def test_v1_with_many_access_ids_keeps_a_sample_of_twenty() -> None:
    v1 = {**SUSPICIOUS_ACCESS_DETECTED_V1, "access_ids": [fake_id(100 + i) for i in range(50)]}
    loaded = REGISTRY.load_payload("SuspiciousAccessDetected", 1, v1)
    assert len(loaded["evidence"]["access_ids"]) == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rule": "volume_above_baseline"}, "rule"),
        ({"recommended_action": "suspend_connector"}, "recommended_action"),
        (
            {"evidence": {**V2["evidence"], "access_ids": [fake_id(i) for i in range(21)]}},
            "evidence",
        ),
        ({"evidence": {**V2["evidence"], "network_addresses": ["not-an-ip"]}}, "evidence"),
        ({"evidence": {**V2["evidence"], "summary": ""}}, "evidence"),
        ({"evidence": {**V2["evidence"], "window_end": "2029-01-01T00:00:00+00:00"}}, "evidence"),
    ],
)
def test_v2_refuses_bad_values(change: dict, field: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.validate_for_publish("SuspiciousAccessDetected", {**V2, **change})
    assert field in caught.value.messages
