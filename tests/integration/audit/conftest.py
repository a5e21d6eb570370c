"""A migrated database per test (tampering tests change it) and the audit test world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.audit.world import World


@pytest.fixture
def world(fresh_migrated_database_url: str) -> Iterator[World]:
    w = World(fresh_migrated_database_url)
    yield w
    w.close()
