"""What the real SMTP sink received: copies per notification, by Message-ID, and when.

Notification sends every message with `Message-ID: <notification_id@carnet.invalid>`, the same
on a resend, so counting messages per Message-ID counts how often each notification went out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

_ID = re.compile(r"<([0-9a-f-]{36})@")
# Documented in docs/notification.md: a crash after the SMTP server accepted a message and
# before the outcome commits makes the message go out again once its lease expires.
WINDOW_S = 5.0
# The sink stores a message (its mtime) when the final "." arrives; a sender killed after
# writing it into the socket is dead before the copy is stored (seen: the kill landed
# between the two, and the lease's resend was counted as a duplicate).
ACCEPT_SLACK_S = 1.0


@dataclass
class Inbox:
    """Arrival times (file mtimes) of the copies of each notification."""

    copies: dict[str, list[float]] = field(default_factory=dict)
    unreadable: int = 0

    def count(self, notification_id: str) -> int:
        """How many copies of one notification arrived."""
        return len(self.copies.get(notification_id, ()))


def read_inbox(messages: Path) -> Inbox:
    """Parse only the headers of every stored message."""
    copies: dict[str, list[float]] = defaultdict(list)
    unreadable = 0
    parser = BytesHeaderParser()
    for path in sorted(messages.glob("*.eml")) if messages.exists() else []:
        with open(path, "rb") as f:
            found = _ID.search(str(parser.parse(f).get("Message-ID", "")))
        if found is None:
            unreadable += 1
            continue
        copies[found.group(1)].append(path.stat().st_mtime)
    return Inbox({k: sorted(v) for k, v in copies.items()}, unreadable)


def in_crash_window(arrivals: list[float], kills: list[float]) -> bool:
    """A second copy explained by a SIGKILL of notification just after the first was accepted.

    Exactly two copies, the first stored at most WINDOW_S before a kill (or ACCEPT_SLACK_S
    after it) and the second after it: the documented send→record window, not a second send
    decided by the service.
    """
    if len(arrivals) != 2:
        return False
    first, second = arrivals
    return any(
        first - ACCEPT_SLACK_S <= kill <= first + WINDOW_S and second >= kill for kill in kills
    )
