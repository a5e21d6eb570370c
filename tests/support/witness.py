"""A witness for audit tests: its own database (never the ledger's), its own key, one round
at a time against a test world's ledger."""

from __future__ import annotations

from typing import Any, Protocol

import psycopg

from services.audit.heads import SignedHead
from services.audit.signing import Signer, new_seed, public_key_b64
from services.common.config import service_database_url
from services.witness import store
from services.witness.keys import cosigner_from_env
from services.witness.run import Round, witness_round
from tests.support.infra import create_database, drop_database

WITNESS_KEY_ID = "witness-test-1"


class Ledgered(Protocol):
    """A ledger database and the key its heads are signed with (audit's World)."""

    database_url: str
    signer: Signer


class TestWitness:
    """A migrated witness database per test, running as carnet_witness."""

    __test__ = False

    def __init__(self, world: Ledgered) -> None:
        self.admin_url = create_database(prefix="carnet_witness_test")
        store.migrate(self.admin_url)
        self.url = service_database_url(self.admin_url, "witness", {})
        self.seed = new_seed()
        self.cosigner = cosigner_from_env(
            {"WITNESS_SIGNING_KEY": self.seed, "WITNESS_SIGNING_KEY_ID": WITNESS_KEY_ID}
        )
        self.world = world
        self.keys = {world.signer.key_id: world.signer.public_key()}

    def env(self) -> dict[str, str]:
        """What `carnet witness run` and `carnet audit verify --witness` read."""
        return {
            "WITNESS_SIGNING_KEY": self.seed,
            "WITNESS_SIGNING_KEY_ID": WITNESS_KEY_ID,
            "WITNESS_PUBLIC_KEY": public_key_b64(self.cosigner.public_key()),
            "AUDIT_VERIFY_PUBLIC_KEY": public_key_b64(self.world.signer.public_key()),
            "AUDIT_SIGNING_KEY_ID": self.world.signer.key_id,
            "AUDIT_SIGNING_KEY": "",
        }

    def round(self) -> Round:
        """One round against the world's ledger."""
        return witness_round(self.url, self.world.database_url, self.keys, self.cosigner)

    def heads(self) -> list[SignedHead]:
        with psycopg.connect(self.admin_url) as conn:
            return store.witnessed_heads(conn)

    def refusals(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.admin_url) as conn:
            return store.refusals(conn)

    def close(self) -> None:
        drop_database(self.admin_url)
