"""A booking world per test module: its own database and vhost, identity beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.booking.world import World
from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT, create_vhost, delete_vhost


@pytest.fixture(scope="module")
def module_broker() -> Iterator[str]:
    """A vhost for one module: consumer queues of another module never steal our events."""
    from services.common.broker import apply_policies, declare_dead_letter_topology

    uri = create_vhost()
    apply_policies(uri, RABBIT_MGMT, RABBIT_AUTH)
    declare_dead_letter_topology(uri)
    yield uri
    delete_vhost(uri)


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str) -> Iterator[World]:
    w = World(migrated_database_url, module_broker).start()
    yield w
    w.close()
