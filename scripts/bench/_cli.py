"""What every benchmark script does at its edges: stop cleanly on a signal, exit 130 on one,
take the options that say where its section and figures go."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from scripts.bench._docs import write_section
from scripts.bench._figures import Figure, write_json

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
PG = "postgresql://postgres@127.0.0.1:5432/postgres"


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


def add_output_options(parser: argparse.ArgumentParser, section: str) -> None:
    """--write-docs, --pg, --docs, --json: the same words in every benchmark that writes a
    section of docs/benchmarks.md on a server of its choosing."""
    parser.add_argument(
        "--write-docs", action="store_true", help=f"write '{section}' in docs/benchmarks.md"
    )
    parser.add_argument("--pg", default=PG)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")


def publish(
    args: argparse.Namespace,
    section: str,
    render: Callable[[], str],
    script: str,
    figures: Callable[[], list[Figure]],
    info: dict[str, str],
) -> None:
    """What --write-docs and --json ask for: the section in the page, the figures for all.py;
    each rendered only when asked for."""
    if args.write_docs:
        write_section(args.docs, section, render())
        print(f"wrote '{section}' in {args.docs}")
    if args.json is not None:
        write_json(args.json, script, figures(), info)
