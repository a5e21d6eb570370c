"""What each local child process may see of the environment: its own secrets, no one else's.

`carnet up` and the demo start the services and the witness from one environment; a secret
given to every child would let the audit service countersign as the witness, or log in as
booking's role and append to booking's store (then ledger that "faithful" event).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.common.config import SERVICES

# Secret -> the only child that receives it; every other variable reaches every child.
OWNER: dict[str, str] = {
    "AUDIT_SIGNING_KEY": "audit",
    "AUDIT_VERIFY_DATABASE_URL": "audit",
    "AUDITOR_DB_PASSWORD": "audit",
    "BOOKING_MASTER_KEY": "booking",
    "CARNET_ADMIN_TOKEN": "identity",
    "SMTP_PASSWORD": "notification",
    "WITNESS_SIGNING_KEY": "witness",
    "WITNESS_ADMIN_DATABASE_URL": "witness",
    "WITNESS_DB_PASSWORD": "witness",
    **{f"{s.upper()}_DB_PASSWORD": s for s in SERVICES},
    **{f"{s.upper()}_DATABASE_URL": s for s in SERVICES},
    **{f"{s.upper()}_AMQP_PASSWORD": s for s in SERVICES},
    **{f"{s.upper()}_AMQP_URI": s for s in SERVICES},
}


def child_env(env: Mapping[str, str], child: str) -> dict[str, str]:
    """`env` without the secrets other children own."""
    return {k: v for k, v in env.items() if OWNER.get(k, child) == child}
