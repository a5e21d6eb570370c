"""What every benchmark script does at its edges: stop cleanly on a signal, exit 130 on one."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import NoReturn


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the scripts' finally blocks drop what they made."""
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt (SIGINT even if started with it ignored)."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run(main: Callable[[], int], cleaned: str) -> NoReturn:
    """Exit with main's code; on an interruption, say what was cleaned up and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"\ninterrupted: {cleaned}", file=sys.stderr)
        sys.exit(130)
