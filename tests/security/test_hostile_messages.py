"""Hostile messages (issue #10 part 3): every consumer queue of every service, on the real bus.

Garbage bytes, a wrong content type, a wrong schema, an unknown type, a future schema version,
forged producers and a type the queue did not subscribe to: each must end in the queue's
dead-letter queue with its reason (docs/adr/0004-dead-letters.md) and change nothing. The same
valid event sent twice changes the consumer's state once, and a valid event sent after all of
it is still applied: no consumer died on the way. One vhost, one database, one publish burst.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
import requests

from services.common.logging import configure_logging
from tests.security.hostile_cases import CASES, SPECS, Case, Outgoing, QueueSpec, hostile, message
from tests.security.hostile_world import HostileWorld
from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT
from tests.support.poll import eventually

SETTLE_S = 1.0  # after the last valid event is applied: time for a duplicate to do harm


@dataclass
class Outcome:
    """What was sent to each queue and what came of it."""

    world: HostileWorld
    sent: dict[tuple[str, str], Outgoing] = field(default_factory=dict)  # (queue id, case)
    duplicate: dict[str, str] = field(default_factory=dict)  # queue id -> message id
    after: dict[str, str] = field(default_factory=dict)  # queue id -> message id
    dead: dict[str, dict] = field(default_factory=dict)  # queue id -> {message id: props}
    effects: dict[str, int] = field(default_factory=dict)  # message id -> effect count
    seconds: float = 0.0


def _messages_for(world: HostileWorld, spec: QueueSpec, outcome: Outcome) -> list[Outgoing]:
    """Every hostile case, then one valid event twice, then a last valid event."""
    # Fresh ids in every body; identity's all name one real connector (a suspension by any
    # hostile message is still found: the probe looks for the message id as its cause).
    target = world.connector() if spec.service == "identity" else None
    spec = world.resolve(spec)  # a broadcast's direct messages go to this process's queue
    batch = []
    for case in CASES:
        m = hostile(spec, case, world.payload(spec, target))
        if m is not None:
            outcome.sent[(spec.id, case.name)] = m
            batch.append(m)
    valid = world.recorded if spec.recorded else message
    twice = valid(spec, world.payload(spec))  # the very same message, published twice
    last = valid(spec, world.payload(spec))
    outcome.duplicate[spec.id], outcome.after[spec.id] = twice.message_id, last.message_id
    return [*batch, twice, twice, last]


@pytest.fixture(scope="module")
def outcome(migrated_database_url: str, module_broker: str) -> Iterator[Outcome]:
    logs = io.StringIO()
    configure_logging("test", stream=logs)
    world = HostileWorld(migrated_database_url, module_broker, logs).start(SPECS)
    result = Outcome(world)
    try:
        started = time.monotonic()
        world.publish([m for spec in SPECS for m in _messages_for(world, spec, result)])
        for spec in SPECS:
            last = result.after[spec.id]
            eventually(lambda s=spec, m=last: world.effect(s, m), 60, f"{spec.id} applies {last}")
        deadline = time.monotonic() + 40
        for spec in SPECS:
            wanted = {m.message_id for (q, _), m in result.sent.items() if q == spec.id}
            timeout = max(1.0, deadline - time.monotonic())
            result.dead[spec.id] = world.dead_letters(spec, wanted, timeout)
        time.sleep(SETTLE_S)
        result.seconds = time.monotonic() - started
        for spec in SPECS:
            ids = [m.message_id for (q, _), m in result.sent.items() if q == spec.id]
            for mid in [*ids, result.duplicate[spec.id], result.after[spec.id]]:
                result.effects[mid] = world.effect(spec, mid)
        yield result
    finally:
        world.close()


def _params() -> list:
    return [
        pytest.param(spec, case, id=f"{spec.id}-{case.name}")
        for spec in SPECS
        for case in CASES
        if not (case.name == "unsubscribed-event-type" and spec.unsubscribed is None)
        and not (case.name == "unrecorded" and not spec.recorded)
    ]


def test_every_consumer_queue_of_the_services_is_covered(outcome: Outcome) -> None:
    vhost = quote(outcome.world.amqp_uri.rpartition("/")[2], safe="")
    r = requests.get(
        f"{RABBIT_MGMT}/api/queues/{vhost}",
        params={"columns": "name"},
        auth=RABBIT_AUTH,
        timeout=10,
    )
    r.raise_for_status()
    declared = {q["name"] for q in r.json() if q["name"].startswith("carnet.q.")}
    own = {outcome.world.resolve(spec).delivery_queue: spec.queue for spec in SPECS}
    assert {own.get(name, name) for name in declared} == {spec.queue for spec in SPECS}


@pytest.mark.parametrize(("spec", "case"), _params())
def test_a_hostile_message_is_dead_lettered_with_its_reason(
    outcome: Outcome, spec: QueueSpec, case: Case
) -> None:
    sent = outcome.sent[(spec.id, case.name)]
    props = outcome.dead[spec.id].get(sent.message_id)
    assert props is not None, f"{case.name} never reached {spec.dlq}"
    headers = props.headers
    assert headers["x-carnet-reason"] == case.reason, headers.get("x-carnet-detail")
    assert headers["x-carnet-queue"] == spec.queue
    assert headers["x-carnet-detail"] and headers["x-carnet-dead-lettered-at"]
    assert headers["x-carnet-original-exchange"] == sent.exchange
    assert props.type == sent.properties.type


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_hostile_messages_change_nothing(outcome: Outcome, spec: QueueSpec) -> None:
    applied = {
        case: outcome.effects[m.message_id]
        for (q, case), m in outcome.sent.items()
        if q == spec.id and outcome.effects[m.message_id]
    }
    assert applied == {}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_the_same_event_twice_changes_the_state_once(outcome: Outcome, spec: QueueSpec) -> None:
    once = outcome.effects[outcome.after[spec.id]]
    twice = outcome.effects[outcome.duplicate[spec.id]]
    assert once >= 1
    if spec.idempotent_by_nature:
        # No inbox: forgetting cached principals twice is forgetting them once (docs/security.md).
        assert twice in (1, 2)
    else:
        assert twice == once


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_the_consumer_keeps_consuming_after_the_hostile_burst(
    outcome: Outcome, spec: QueueSpec
) -> None:
    assert outcome.effects[outcome.after[spec.id]] >= 1
    assert outcome.world.alive()


def test_valid_events_are_never_dead_lettered_and_the_backstop_stays_empty(
    outcome: Outcome,
) -> None:
    # Each queue's own valid events: a ledger queue also receives the other queues' valid
    # events from its producer's exchange, which that producer never recorded, and refuses them.
    valid = {q: {outcome.duplicate[q], outcome.after[q]} for q in outcome.dead}
    parked = {q: sorted(valid[q] & set(d)) for q, d in outcome.dead.items() if valid[q] & set(d)}
    assert parked == {}
    assert outcome.world.limit_backstop_depth() == 0
    assert outcome.seconds < 60, f"the hostile burst took {outcome.seconds:.1f} s"
