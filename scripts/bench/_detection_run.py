"""Runs the scenarios through the detection engine the audit service runs (engine.handle, its
inbox and its PostgreSQL state), on simulated time, one platform model per scenario."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from scripts.bench._detection_actors import simulate
from scripts.bench._detection_events import BenchEvent, Events
from scripts.bench._detection_measure import Outcome, measure
from scripts.bench._detection_platform import Platform
from scripts.bench._detection_scenarios import SCENARIOS, T0, Scenario
from scripts.bench._detection_world import World
from services.audit.detection import engine
from services.audit.detection.observe import Change
from services.audit.detection.reference import apply_changes
from services.common.eventstore.store import EventStore

SEED = 19  # the issue number: the same world every run
LAG = timedelta(seconds=1)  # finding -> measure enforced by booking (ADR 0014: within a second)


def audit_role(url: str) -> str:
    """The audit service's own role: the migration's grants are part of what is run."""
    return url.replace("postgres@", "carnet_audit@", 1)


def preload(pool: ConnectionPool, world: World) -> None:
    """Booking's history before the scenario, as audit would have consumed it (the same
    upsert, batched); the simulated hours' changes go through the engine and its inbox."""
    changes = [
        Change(world.updated[a.appointment_id], a.appointment_id, a.practitioner_id,
               a.patient_id, a.start)
        for a in world.appts.values()
    ]  # fmt: skip
    with pool.connection() as conn, conn.transaction():
        apply_changes(conn, changes)


def run_one(
    pool: ConnectionPool, scenario: Scenario, quick: bool, lag: timedelta,
    config: Mapping[str, Any],
) -> Outcome:  # fmt: skip
    """Build, preload, simulate and measure one scenario."""
    store = EventStore(pool, "audit")
    timings: list[float] = []

    def feed(event: BenchEvent) -> list[Any]:
        began = time.perf_counter()
        found = engine.handle(pool, store, config, event)
        timings.append(time.perf_counter() - began)
        return found

    world = World(random.Random(f"{SEED}-{scenario.key}"), T0)
    pf = Platform(world, Events(), feed, lag, net=1 + SCENARIOS.index(scenario))
    started = time.monotonic()
    setup = scenario.build(pf, quick)
    preload(pool, world)
    simulate(pf, setup.actors, setup.end)
    outcome = measure(scenario, setup, pf, len(timings), time.monotonic() - started)
    outcome.handle_ms = [t * 1e3 for t in timings]
    return outcome


def run_all(
    url: str, keys: Sequence[str] = (), quick: bool = False, lag: timedelta = LAG,
    config: Mapping[str, Any] | None = None, say: Any = print, workers: int = 4,
) -> list[Outcome]:  # fmt: skip
    """Every scenario (or those named), each on its own principals, agendas and addresses, so
    they run side by side (detection waits on PostgreSQL, not on Python). The world is the same
    every run: run a scenario again on a database of its own, or its state carries over."""
    chosen = [s for s in SCENARIOS if not keys or s.key in keys]
    with (
        ConnectionPool(audit_role(url), min_size=1, max_size=workers, open=True) as pool,
        ThreadPoolExecutor(workers) as executor,
    ):
        futures = [executor.submit(run_one, pool, s, quick, lag, config or {}) for s in chosen]
        outcomes = []
        for scenario, future in zip(chosen, futures, strict=True):
            outcome = future.result()
            say(f"  {scenario.key}: {outcome.events:,} events in {outcome.seconds:.1f} s")
            outcomes.append(outcome)
    return outcomes
