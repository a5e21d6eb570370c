"""Which replica this process is: one name for its own queues, its logs and its metrics."""

from __future__ import annotations

import os
import re
import socket

ENV = "CARNET_INSTANCE_ID"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def instance_id() -> str:
    """`CARNET_INSTANCE_ID` (Kubernetes: the pod's name), else host-pid: unique per replica."""
    raw = os.environ.get(ENV) or f"{socket.gethostname()}-{os.getpid()}"
    return _UNSAFE.sub("-", raw)[:80] or "instance"
