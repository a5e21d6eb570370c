"""The fault model: SIGKILL each service, crash RabbitMQ, crash PostgreSQL, in turn, under load.

Faults are spread over the fixed count of operations. The gate lets the workers run a little
past a fault's threshold, then holds them until that fault has been injected, so every fault
lands while commands are in flight; the workers then go on (retrying) while the injector
waits for every service to report ready again before the next fault.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.config import SERVICES

TARGETS = (*SERVICES, "rabbitmq", "postgresql")


@dataclass
class Fault:
    """One injected fault and how long the system took to be ready again."""

    target: str
    at_operation: int
    wall_time: float = 0.0  # time.time() of the kill
    recovered_s: float | None = None
    not_ready: tuple[str, ...] = ()


class Gate:
    """Hands out operation numbers 1..total; holds workers past a fault not yet injected."""

    def __init__(self, total: int, thresholds: list[int], slack: int) -> None:
        self.total, self.thresholds, self.slack = total, thresholds, slack
        self.issued = self.finished = 0
        self.limit = min(total, thresholds[0] + slack) if thresholds else total
        self.cond = threading.Condition()

    def take(self) -> bool:
        """True with a new operation to do; False once the count is reached."""
        with self.cond:
            while self.issued >= self.limit and self.issued < self.total:
                self.cond.wait()
            if self.issued >= self.total:
                return False
            self.issued += 1
            self.cond.notify_all()
            return True

    def done(self) -> None:
        """One operation finished."""
        with self.cond:
            self.finished += 1
            self.cond.notify_all()

    def stop(self) -> None:
        """No further operations: the run has already failed (a fault broke the system)."""
        with self.cond:
            self.total = self.issued
            self.cond.notify_all()

    def wait_issued(self, count: int) -> None:
        """Block until `count` operations have been handed out."""
        with self.cond:
            while self.issued < min(count, self.total):
                self.cond.wait()

    def open_after(self, fault_index: int) -> None:
        """Fault `fault_index` is in: let the workers run up to the next one."""
        with self.cond:
            nxt = fault_index + 1
            if nxt < len(self.thresholds):
                self.limit = min(self.total, self.thresholds[nxt] + self.slack)
            else:
                self.limit = self.total
            self.cond.notify_all()


def plan(rounds: int, total: int, kinds: tuple[str, ...] = TARGETS) -> list[Fault]:
    """Each target in turn, `rounds` times, at evenly spaced operation counts."""
    targets = [t for _ in range(rounds) for t in kinds]
    step = total // (len(targets) + 1)
    return [Fault(t, step * (i + 1)) for i, t in enumerate(targets)]


class Injector(threading.Thread):
    """Injects the planned faults as the load passes each threshold."""

    def __init__(
        self,
        faults: list[Fault],
        gate: Gate,
        actions: dict[str, Callable[[], None]],
        wait_ready: Callable[[float, str], list[str]],
        say: Callable[[str], None],
        recover_timeout: float = 240.0,
    ) -> None:
        super().__init__(name="chaos-injector", daemon=True)
        self.faults, self.gate, self.actions = faults, gate, actions
        self.wait_ready, self.say, self.recover_timeout = wait_ready, say, recover_timeout
        self.error: BaseException | None = None

    def run(self) -> None:
        """Wait for each threshold, inject, wait for recovery; always open the gate at the end."""
        try:
            for i, fault in enumerate(self.faults):
                self.gate.wait_issued(fault.at_operation)
                fault.wall_time = time.time()
                started = time.monotonic()
                self.actions[fault.target]()
                self.gate.open_after(i)
                when = f"after fault {i + 1}, {fault.target}"
                fault.not_ready = tuple(self.wait_ready(self.recover_timeout, when))
                fault.recovered_s = round(time.monotonic() - started, 1)
                state = f"not ready: {', '.join(fault.not_ready)}" if fault.not_ready else "ready"
                self.say(
                    f"  fault {i + 1}/{len(self.faults)} at operation {fault.at_operation}: "
                    f"{fault.target} → {state} after {fault.recovered_s} s"
                )
        except BaseException as exc:  # reported by the runner; the load must not hang on it
            self.error = exc
            self.gate.stop()
        finally:
            self.gate.open_after(len(self.faults))
