"""Ports for private servers, chosen below the kernel's ephemeral range.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, which outgoing
connections draw from too: once the server that got it stops (a chaos fault, a restarted
service), any connect() may take the port and the restart fails with EADDRINUSE. No outgoing
connection ever takes a port below the range, so a server that restarts gets its port back.
Used by the tests' in-process services and by the chaos runner's private servers.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FLOOR = 10_000  # below: the well-known and registered ports of common servers
# Ports of the shared servers above FLOOR, which must stay theirs while they restart
# (test_relay.py restarts the shared RabbitMQ): its management, Prometheus and dist ports.
RESERVED = frozenset({15672, 15692, 25672})
_given: set[int] = set()
_lock = threading.Lock()


def ephemeral_range(path: Path = RANGE_FILE) -> tuple[int, int]:
    """(low, high) of the ports the kernel picks for outgoing connections and bind(0)."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default, where the file cannot be read
    return low, high


def candidates(low: int, high: int) -> list[int]:
    """Every port outside [low, high] a test server may take, below the range first."""
    below = [p for p in range(FLOOR, low) if p not in RESERVED]
    return below or [p for p in range(max(high + 1, FLOOR), 65536) if p not in RESERVED]


def own_share(pool: list[int]) -> list[int]:
    """This test shard's share of the pool (every n-th port; scripts/test_shards.py), so two
    shards never pick the same port between one's check and its bind, nor while one's server
    restarts."""
    index, _, count = os.environ.get("CARNET_TEST_SHARD", "0/1").partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        return pool
    return pool[i % n :: n] if n > 1 else pool


def is_free(port: int) -> bool:
    """Nothing is bound to `port` on any address (binding the wildcard conflicts with all)."""
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))  # a moment only: never listens
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port outside the ephemeral range that nothing uses now, never handed out twice here."""
    pool = own_share(candidates(*ephemeral_range()))
    if not pool:  # the range covers every port: fall back to the kernel's choice
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    # Random, so concurrent test sessions rarely try the same port; remembered, so two
    # servers of this process never share one even before either has bound it.
    for port in random.sample(pool, min(len(pool), 200)):
        with _lock:
            if port in _given or not is_free(port):
                continue
            _given.add(port)
        return port
    raise RuntimeError(f"no free port found among {len(pool)} outside the ephemeral range")
