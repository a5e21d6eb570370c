"""A booking world per test module: its own database and vhost, identity beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.booking.world import World


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str) -> Iterator[World]:
    w = World(migrated_database_url, module_broker).start()
    yield w
    w.close()
