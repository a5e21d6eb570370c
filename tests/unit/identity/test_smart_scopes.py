"""SMART system scopes as aliases of identity's: never wider than asked, refusals say why."""

from __future__ import annotations

import pytest

from services.common.errors import DomainError
from services.identity.smart import is_smart, translate

READ, WRITE, MEDICAL = "appointment:read", "appointment:write", "appointment:read-medical"


@pytest.mark.parametrize(
    ("asked", "internal"),
    [
        (["system/Appointment.rs"], [READ]),
        (["system/Appointment.cu"], [WRITE]),
        (["system/Appointment.crus"], [READ, WRITE]),
        (["system/Appointment.read"], [READ]),  # SMART v1
        (["system/Appointment.write"], [WRITE]),
        (["system/Appointment.*"], [READ, WRITE]),
        (["system/Appointment.rs", MEDICAL], [READ, MEDICAL]),  # Carnet's own name stays
        ([WRITE, "system/Appointment.rs", READ], [READ, WRITE]),  # each once, in order
        (["patient/Observation.rs"], ["patient/Observation.rs"]),  # unknown: refused later
    ],
)
def test_smart_scopes_stand_for_identitys(asked, internal):
    assert translate(asked) == internal


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ("system/Appointment.r", "ask system/Appointment.rs"),  # never wider than asked
        ("system/Appointment.s", "ask system/Appointment.rs"),
        ("system/Appointment.c", "ask system/Appointment.cu"),
        ("system/Appointment.rds", "not served"),
        ("system/Appointment.sr", "order"),
        ("system/Appointment.rrs", "order"),
    ],
)
def test_a_partial_or_malformed_v2_scope_is_invalid_scope_saying_what_to_ask(asked, says):
    with pytest.raises(DomainError) as error:
        translate([asked])
    assert error.value.code == "invalid_scope" and says in error.value.detail


def test_which_scopes_are_smart():
    assert is_smart("system/Appointment.rs") and is_smart("system/Appointment.read")
    assert not is_smart(READ) and not is_smart("user/Appointment.rs")
