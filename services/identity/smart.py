"""SMART system scopes at the token endpoint, as aliases of identity's own (issue #23).

A partner's FHIR client asks for `system/Appointment.rs` (SMART v2) or `system/Appointment.read`
(v1); identity's grants and tokens speak `appointment:read`, `appointment:write` and
`appointment:read-medical`. Carnet grants reading and searching together, and creating and
updating together, so a v2 scope must ask for both letters of a pair (`rs`, `cu`): a token is
never wider than what was asked. Deleting is not served. Medical fields are elements of an
Appointment, not a resource a SMART scope can name: `appointment:read-medical` stays Carnet's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.identity.domain import APPOINTMENT_READ, APPOINTMENT_WRITE, CONNECTOR_SCOPES
from services.identity.errors import oauth_error

_SCOPE = re.compile(r"system/Appointment\.(?P<perms>read|write|\*|[cruds]{1,5})")
V1 = {"read": (APPOINTMENT_READ,), "write": (APPOINTMENT_WRITE,),
      "*": (APPOINTMENT_READ, APPOINTMENT_WRITE)}  # fmt: skip
PAIRS = (("rs", APPOINTMENT_READ), ("cu", APPOINTMENT_WRITE))
ORDER = "cruds"  # SMART v2: permissions in this order, each once


def _v2(scope: str, perms: str) -> tuple[str, ...]:
    """The scopes a v2 permission string stands for, or invalid_scope saying what to ask."""
    if list(perms) != sorted(set(perms), key=ORDER.index):
        raise oauth_error("invalid_scope", f"{scope}: each permission once, in the order c r u d s")
    if "d" in perms:
        raise oauth_error("invalid_scope", f"{scope}: deleting appointments is not served")
    out = []
    for pair, internal in PAIRS:
        asked = set(pair) & set(perms)
        if asked and asked != set(pair):
            raise oauth_error(
                "invalid_scope",
                f"{scope}: Carnet grants {pair[0]} and {pair[1]} together; ask "
                f"system/Appointment.{''.join(sorted(set(perms) | set(pair), key=ORDER.index))}",
            )
        if asked:
            out.append(internal)
    return tuple(out)


def internal(scope: str) -> tuple[str, ...]:
    """Identity's scopes a requested scope stands for (its own names stand for themselves)."""
    match = _SCOPE.fullmatch(scope)
    if match is None:
        return (scope,)
    perms = match["perms"]
    return V1[perms] if perms in V1 else _v2(scope, perms)


def translate(requested: Iterable[str]) -> list[str]:
    """The requested scopes in identity's names, each once, in canonical order (unknown names
    pass through for the token endpoint to refuse with the scopes it would give)."""
    wanted = [s for scope in requested for s in internal(scope)]
    known = [s for s in CONNECTOR_SCOPES if s in wanted]
    return known + [s for s in dict.fromkeys(wanted) if s not in CONNECTOR_SCOPES]


def is_smart(scope: str) -> bool:
    """A SMART system scope (answered in the vocabulary it was asked in)."""
    return _SCOPE.fullmatch(scope) is not None
