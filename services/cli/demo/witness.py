"""The demo's last check: the witness countersigned the newest head; verify agrees with it."""

from __future__ import annotations

import time
from collections.abc import Mapping

import psycopg

from services.cli.demo.client import DemoError
from services.witness import store
from services.witness.keys import audit_keys_from_env, cosigner_from_env

GRACE_SECONDS = 30.0  # as the audit service's own verify (AUDIT_VERIFY_GRACE_SECONDS)


def _newest_head(ledger_url: str) -> int:
    """The largest tree size the audit has signed."""
    with psycopg.connect(ledger_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT coalesce(max(tree_size), 0) FROM audit.checkpoints").fetchone()
    return int(row[0]) if row else 0


def check_witness(env: Mapping[str, str], timeout: float = 60.0) -> str:
    """Wait until the witness holds the newest signed head, then `verify --witness`; a summary.

    Raises DemoError on any refusal or finding: the demo's ledger must be witnessed as clean."""
    from services.audit.witness_check import verify_database_with_witness

    ledger_url, witness_url = env["WITNESS_LEDGER_URL"], env["WITNESS_ADMIN_DATABASE_URL"]
    wanted = _newest_head(ledger_url)
    deadline = time.monotonic() + timeout
    while True:
        wanted = wanted or _newest_head(ledger_url)  # none signed yet: wait for the first
        with psycopg.connect(witness_url, connect_timeout=10) as conn:
            heads, refused = store.witnessed_heads(conn), store.refusals(conn)
        if refused:
            raise DemoError(f"the witness refused {len(refused)} head(s): {refused[0]['kind']}")
        if heads and heads[-1].tree_size >= wanted > 0:
            break
        if time.monotonic() > deadline:
            raise DemoError(f"the witness did not countersign tree size {wanted} in {timeout:g} s")
        time.sleep(1.0)
    report = verify_database_with_witness(
        ledger_url,
        audit_keys_from_env(env),
        heads,
        cosigner_from_env(env).public_key(),  # its cosignatures are checked too
        grace_seconds=GRACE_SECONDS,
    )
    if not report.ok:
        raise DemoError(f"verify --witness found {[f.kind for f in report.findings][:5]}")
    w = report.witness or {}
    return (
        f"{w.get('heads_checked')} heads countersigned up to tree size "
        f"{w.get('newest_witnessed_size')}, 0 refused; verify --witness ok"
    )
