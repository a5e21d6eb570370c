"""Fixtures for the real PostgreSQL and RabbitMQ: a fresh database and vhost per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest
import requests
from psycopg_pool import ConnectionPool

from tests.support.template import clone, hold_template

PG_ADMIN_URL = os.environ.get("CARNET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_HOST = os.environ.get("CARNET_TEST_RABBIT_HOST", "127.0.0.1")
RABBIT_MGMT = os.environ.get("CARNET_TEST_RABBIT_MGMT", f"http://{RABBIT_HOST}:15672")
RABBIT_AUTH = ("guest", "guest")


def database_url_for(name: str) -> str:
    """The admin URL pointed at database `name`."""
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def create_database(prefix: str = "carnet_test", template: str | None = None) -> str:
    """Create a uniquely named database, empty or cloned from `template`; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if template is None:
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            clone(conn, template, name)
    return database_url_for(name)


def drop_database(url: str) -> None:
    """Drop a database made by create_database, closing whatever is still connected."""
    name = url.rpartition("/")[2]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_vhost(prefix: str = "carnet-test") -> str:
    """Create a RabbitMQ vhost for one test run and return its AMQP URI."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:10]}"
    q = quote(vhost, safe="")
    r = requests.put(f"{RABBIT_MGMT}/api/vhosts/{q}", auth=RABBIT_AUTH, timeout=10)
    r.raise_for_status()
    r = requests.put(
        f"{RABBIT_MGMT}/api/permissions/{q}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=RABBIT_AUTH,
        timeout=10,
    )
    r.raise_for_status()
    return f"amqp://guest:guest@{RABBIT_HOST}:5672/{q}"


def delete_vhost(amqp_uri: str) -> None:
    """Delete a vhost made by create_vhost, with its queues and exchanges."""
    q = amqp_uri.rpartition("/")[2]
    requests.delete(f"{RABBIT_MGMT}/api/vhosts/{q}", auth=RABBIT_AUTH, timeout=10)


@pytest.fixture(scope="session")
def empty_database_url() -> Iterator[str]:
    """A fresh database with no schema, dropped after the run."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """A fresh database for one test that needs the whole server to itself."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def amqp_uri() -> Iterator[str]:
    """A fresh vhost, deleted after the run."""
    uri = create_vhost()
    yield uri
    delete_vhost(uri)


@pytest.fixture(scope="session")
def broker(amqp_uri: str) -> str:
    """The run's vhost with deploy/rabbitmq policies applied (DLX, delivery limit)."""
    from services.common.broker import apply_policies, declare_topology

    apply_policies(amqp_uri, RABBIT_MGMT, RABBIT_AUTH)
    declare_topology(amqp_uri)
    return amqp_uri


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    """The migrated template database of this checkout's migrations, built once per session."""
    name, held = hold_template(PG_ADMIN_URL, database_url_for)
    try:
        yield name
    finally:
        held.close()  # lets a session of other migrations drop it


@pytest.fixture(scope="module")
def migrated_database_url(migrated_template: str) -> Iterator[str]:
    """A fresh database with every service's migrations applied, per test module."""
    url = create_database(template=migrated_template)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """A pool on the module's migrated database, as the admin (tests with a role make their own)."""
    with ConnectionPool(migrated_database_url, min_size=1, max_size=8, open=True) as p:
        yield p


@pytest.fixture
def fresh_migrated_database_url(migrated_template: str) -> Iterator[str]:
    """A fresh migrated database for one test that changes it or needs it to itself."""
    url = create_database(template=migrated_template)
    yield url
    drop_database(url)


@pytest.fixture
def fresh_broker() -> Iterator[str]:
    """A vhost for one test, with policies: no queue or message left by another test."""
    from services.common.broker import apply_policies, declare_topology

    uri = create_vhost()
    apply_policies(uri, RABBIT_MGMT, RABBIT_AUTH)
    declare_topology(uri)
    yield uri
    delete_vhost(uri)


@pytest.fixture(scope="module")
def module_broker() -> Iterator[str]:
    """A vhost for one test module, with policies: another module's queues never steal events."""
    from services.common.broker import apply_policies, declare_topology

    uri = create_vhost()
    apply_policies(uri, RABBIT_MGMT, RABBIT_AUTH)
    declare_topology(uri)
    yield uri
    delete_vhost(uri)
