"""Every attempt is evidence: what a refused request leaves in booking's log before its answer.

A refused token (401), a request outside reach or rights (403), an id that does not exist
(404) and a read over quota (429) are each recorded as an AppointmentsAccessed with outcome
denied and a denial code, so detection and investigators see probing, token replay and
guessing, not only successes. Other refusals (bad input, conflicts) are not attempts on data;
"identity is unavailable" (503) is not the caller's doing, and is not recorded.
"""

from __future__ import annotations

from services.booking.access import Denial, RequestInfo, Served
from services.booking.commands import Denied
from services.booking.context import Ctx
from services.booking.reach import Principal
from services.common.errors import (
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)

# The contract's denial code of each refusal kind that is evidence (Forbidden: see Denied).
CODES: tuple[tuple[type[DomainError], str], ...] = (
    (Unauthorized, "unauthenticated"),
    (NotFound, "not_found"),
    (TooManyRequests, "quota"),
    (Forbidden, "forbidden"),
)


def denial_of(error: DomainError) -> Denial | None:
    """The record a refusal leaves, or None when it is not evidence of an attempt on data."""
    if isinstance(error, Denied):
        return Denial(error.denial_code, error.detail, error.targets)
    for kind, code in CODES:
        if isinstance(error, kind):
            return Denial(code, error.detail)
    return None


def record_refusal(
    ctx: Ctx, p: Principal | None, info: RequestInfo, operation: str, error: DomainError
) -> None:
    """Record the refusal (outcome denied) if it is evidence; the caller then answers it.

    `p` None: no principal is known (no token, or identity refused it), kind unknown.
    """
    denial = denial_of(error)
    if denial is None:
        return
    practitioner_id = getattr(error, "practitioner_id", None)  # Denied names the agenda asked
    asked = (practitioner_id,) if practitioner_id else ()
    served = Served((), (), asked, frozenset(), False)
    ctx.recorder.record(p, info, operation, served, denial)
