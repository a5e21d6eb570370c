"""CPU seconds per part of the system, read from /proc: what one booking costs each part.

A missed throughput target on a small machine is either contention or cost; CPU seconds per
booking, per process group, tell which and predict the ceiling (cores / CPU per booking).
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
BROKER_COMMANDS = {"beam.smp", "erl_child_setup", "epmd", "inet_gethost"}
GROUPS = ("booking", "audit", "identity", "notification", "PostgreSQL", "RabbitMQ",
          "load generator", "other")  # fmt: skip


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(command, parent pid, user+system CPU seconds) of one process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (every state but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS


def snapshot(services: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each group: a service with its children, PostgreSQL's
    processes, the broker's, this process (the load generator), and the machine's rest."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p))}
    owner = {pid: name for name, pid in services.items()}
    out = dict.fromkeys(GROUPS, 0.0)
    for pid, (command, _parent, cpu) in stats.items():
        name, walk = None, pid
        for _ in range(8):  # a service's children (none today) count as the service
            if walk in owner:
                name = owner[walk]
                break
            walk = stats[walk][1] if walk in stats else 0
        if name is None:
            if command.startswith("postgres"):
                name = "PostgreSQL"
            elif command in BROKER_COMMANDS:
                name = "RabbitMQ"
            elif pid == os.getpid():
                name = "load generator"
        if name is not None:
            out[name] += cpu
    out["other"] = max(0.0, machine_busy() - sum(out.values()))
    return out


def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (a process that exited meanwhile
    takes its time with it, so a group can only be under-counted)."""
    return {k: max(0.0, after[k] - before.get(k, 0.0)) for k in after}
