"""What each planned fault does: on one broker node and one replica of each service, or on a
three-node cluster with two replicas (`make chaos-cluster`), where each fault hits one replica
or one node in turn, so the others keep serving."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from scripts.chaos.cluster import RabbitCluster
from scripts.chaos.fleet import Fleet
from scripts.chaos.infra import PrivatePostgres, PrivateRabbit
from services.common.config import SERVICES

# A stopped node stays down this long under load before it starts again (and rejoins).
NODE_DOWN_S = 5.0
# A cut node notices within ~11-12 s (net_ticktime 10 s) and pauses (pause_minority): the cut
# lasts past that, so its clients are really disconnected and reconnect to the majority.
PARTITION_HOLD_S = 20.0


def targets(rabbit: PrivateRabbit | RabbitCluster) -> tuple[str, ...]:
    """The faults of one round: each service, the broker, PostgreSQL (and a partition)."""
    cluster = ("partition",) if isinstance(rabbit, RabbitCluster) else ()
    return (*SERVICES, "rabbitmq", "postgresql", *cluster)


def _turns(count: int) -> Callable[[], int]:
    """0, 1, ... count-1, 0, ...: which replica or node the next fault of a kind hits."""
    turn = itertools.count()
    return lambda: next(turn) % count


def actions(
    fleet: Fleet, pg: PrivatePostgres, rabbit: PrivateRabbit | RabbitCluster
) -> dict[str, Callable[[], None]]:
    """One callable per target; each returns once the fault is over (the runner then waits
    for every service to be ready again)."""

    def restart(service: str) -> Callable[[], None]:
        replica = _turns(fleet.replicas)

        def act() -> None:
            i = replica()
            fleet.kill(service, i)
            fleet.start(service, i)

        return act

    done: dict[str, Callable[[], None]] = {svc: restart(svc) for svc in SERVICES}
    done["postgresql"] = lambda: (pg.crash(), pg.start())
    if isinstance(rabbit, PrivateRabbit):
        done["rabbitmq"] = lambda: (rabbit.crash(), rabbit.start())
        return done
    node, cut = _turns(len(rabbit.nodes)), _turns(len(rabbit.nodes))

    def node_down() -> None:
        i = node()
        rabbit.stop_node(i)
        time.sleep(NODE_DOWN_S)
        rabbit.start_node(i)

    def partition() -> None:
        i = len(rabbit.nodes) - 1 - cut()  # not in step with node_down's
        others = set(range(len(rabbit.nodes))) - {i}
        rabbit.partition(i)
        try:
            time.sleep(PARTITION_HOLD_S)
            # The fault took: the majority runs without the cut node (else the run is void).
            rabbit.await_running(others, timeout=30)
        finally:
            rabbit.heal(i)

    done["rabbitmq"], done["partition"] = node_down, partition
    return done
