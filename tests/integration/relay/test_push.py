"""The relay is woken by commits, not its poll: in-process appends and other writers' NOTIFY."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.common.eventstore.store import EventStore
from services.common.eventstore.wakeup import WAKEUPS
from services.common.relay.relay import Relay
from services.common.relay.routing import routing_key_for
from tests.support.amqp import drain
from tests.support.events import new_event
from tests.support.poll import eventually

REPO = Path(__file__).resolve().parents[3]
POLL_S = 60.0  # far beyond every wait below: only a wake-up explains a prompt publish


@pytest.fixture
def leading(store: EventStore, migrated_database_url: str, broker: str) -> Iterator[Relay]:
    """A relay that polls once a minute, leading, with everything so far published."""
    stop = threading.Event()
    relay = Relay(store, migrated_database_url, "booking", "booking", broker, routing_key_for,
                  idle_wait=POLL_S)  # fmt: skip
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    dbname = psycopg.conninfo.conninfo_to_dict(migrated_database_url)["dbname"]
    eventually(lambda: WAKEUPS.leads_here(dbname, "booking"), what="the relay leads")
    eventually(lambda: relay.position.load() == store.head(), what="the backlog published")
    time.sleep(0.3)  # past the quick looks after its last batch: it now waits on its poll
    yield relay
    stop.set()
    relay.stop_waiting()
    thread.join(10)
    assert not thread.is_alive()


def _published_within(broker: str, probe: str, event_id: str, seconds: float) -> None:
    started = time.monotonic()
    ((props, _body),) = drain(broker, probe, until=1, timeout=seconds)
    assert props.message_id == event_id
    assert time.monotonic() - started < seconds


def test_an_append_in_the_leaders_process_wakes_it(leading, store, broker, probe) -> None:
    event = new_event()
    store.append(f"appointment-push-{event.event_id}", [event], expected_version=0)
    _published_within(broker, probe, str(event.event_id), 5.0)


def _append_then(url: str, broker: str, probe: str, commit: bool) -> str:
    """Append on a plain connection in a transaction (no commit hook here: the append must
    NOTIFY, as another replica's or the CLI's would); nothing is published before the commit;
    then commit or roll back. The event's id."""
    event = new_event()
    with psycopg.connect(url) as conn:
        EventStore(lambda: conn, "booking").append_in(
            conn, f"appointment-push-{event.event_id}", [event], expected_version=0
        )
        time.sleep(0.5)
        assert drain(broker, probe, until=0, timeout=0.1) == []
        if commit:
            conn.commit()
        else:
            conn.rollback()
    return str(event.event_id)


def test_a_writer_the_leader_cannot_hear_in_process_wakes_it_by_notify(
    leading, migrated_database_url, broker, probe
) -> None:
    event_id = _append_then(migrated_database_url, broker, probe, commit=True)
    _published_within(broker, probe, event_id, 5.0)  # the listener heard the commit


def test_a_rolled_back_append_notifies_nothing_and_is_never_published(
    leading, migrated_database_url, broker, probe
) -> None:
    _append_then(migrated_database_url, broker, probe, commit=False)
    assert drain(broker, probe, until=1, timeout=1.0) == []


def test_a_writer_in_another_process_wakes_it_by_notify_after_its_commit(
    leading, migrated_database_url, broker, probe
) -> None:
    # An append as another replica or the CLI makes it: autocommit, then the process ends at
    # once; its NOTIFY is sent after the commit (off the append path), at the latest at exit.
    event_id = str(uuid.uuid4())
    script = (
        "import dataclasses, sys, uuid, psycopg\n"
        "from services.common.eventstore.store import EventStore\n"
        "from tests.support.events import new_event\n"
        "event = dataclasses.replace(new_event(), event_id=uuid.UUID(sys.argv[2]))\n"
        "store = EventStore(lambda: psycopg.connect(sys.argv[1]), 'booking')\n"
        "store.append(f'appointment-push-{event.event_id}', [event], expected_version=0)\n"
    )
    subprocess.run([sys.executable, "-c", script, migrated_database_url, event_id], check=True,
                   cwd=REPO, timeout=60)  # fmt: skip
    _published_within(broker, probe, event_id, 5.0)


def test_a_standby_relay_reports_zero_not_nothing(store, migrated_database_url, broker) -> None:
    """`carnet_relay_is_leader` is 0 on a standby (an absent series would hide it from the
    CarnetRelayNoLeader sum): here a standby of its own producer name, the lock held aside."""
    from prometheus_client import REGISTRY

    from services.common.relay.leadership import Leadership

    holder = Leadership(migrated_database_url, "booking")
    assert holder.try_acquire()
    stop = threading.Event()
    relay = Relay(store, migrated_database_url, "booking", "standby-probe", broker,
                  routing_key_for)  # fmt: skip
    thread = threading.Thread(target=relay.run, args=(stop, 0.05), daemon=True)
    try:
        thread.start()
        labels = {"service": "standby-probe"}
        eventually(
            lambda: REGISTRY.get_sample_value("carnet_relay_is_leader", labels) is not None,
            what="the standby's gauge",
        )
        assert REGISTRY.get_sample_value("carnet_relay_is_leader", labels) == 0
        assert not relay.stats.is_leader
    finally:
        stop.set()
        thread.join(10)
        holder.release()
