"""A migrated database per test (tampering tests change it) and the audit test world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.audit.verify import VerifyReport, verify_database
from tests.integration.audit.world import World


@pytest.fixture
def world(fresh_migrated_database_url: str) -> Iterator[World]:
    w = World(fresh_migrated_database_url)
    yield w
    w.close()


def verify(world: World, grace_seconds: float = 0.0) -> VerifyReport:
    """Verify with the world's public key, every source event required (no grace)."""
    keys = {world.signer.key_id: world.signer.public_key()}
    return verify_database(world.database_url, keys, grace_seconds=grace_seconds)
