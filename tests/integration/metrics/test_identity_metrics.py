"""Identity's /metrics: events it appends, and the requests it refuses by reason class."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import pytest
import requests

from services.common.logging import configure_logging
from tests.integration.identity.world import World
from tests.integration.metrics.scrape import Scrape

APPENDED, DENIED = "carnet_events_appended_total", "carnet_requests_denied_total"


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str) -> Iterator[World]:
    w = World(migrated_database_url, module_broker, io.StringIO()).start()
    configure_logging("test", stream=w.logs)
    yield w
    w.close()


def sign_in(world: World, username: str, password: str, **extra: str) -> requests.Response:
    form = {"grant_type": "password", "username": username, "password": password, **extra}
    return requests.post(f"{world.base}/oauth/token", data=form, timeout=30)


def test_appends_and_refusals_show_on_identity_metrics(world):
    before = Scrape(world.base)

    def grew(after: Scrape, name: str, **labels: str) -> float:
        return (after.value(name, **labels) or 0) - (before.value(name, **labels) or 0)

    body = {"given_name": "Ada", "family_name": "Metrics", "specialty": "cardiology"}
    r = world.post("/v1/practitioners", {**body, "password": "metrics-password-1"})
    assert r.status_code == 201, r.text
    practitioner = r.json()["practitioner_id"]

    assert sign_in(world, practitioner, "not-the-password").status_code == 400  # invalid_grant
    assert world.token("unknown-client", "nope").status_code == 401  # invalid_client
    assert world.post("/v1/practitioners", body, token="not-a-token").status_code == 401
    token = sign_in(world, practitioner, "metrics-password-1").json()["access_token"]
    assert world.get(f"/v1/connectors/{uuid.uuid4()}", token=token).status_code == 403
    assert sign_in(world, practitioner, "metrics-password-1", scope="admin").status_code == 400

    after = Scrape(world.base)
    assert grew(after, APPENDED, service="identity", event_type="PractitionerRegistered") == 1
    assert grew(after, APPENDED, service="identity", event_type="AuthenticationFailed") >= 2
    assert grew(after, DENIED, service="identity", reason="authentication") == 3
    assert grew(after, DENIED, service="identity", reason="authorization") == 2


def test_the_scrape_names_the_replica_as_its_log_lines_do(world):
    instance = json.loads(world.logs.getvalue().splitlines()[-1])["service.instance.id"]
    # One sample per service of the process (the suite runs several in one).
    scrape = Scrape(world.base)
    assert scrape.value("carnet_instance_info", service="identity", instance_id=instance) == 1
