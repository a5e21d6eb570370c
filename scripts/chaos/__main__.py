"""`python -m scripts.chaos`: faults under load on private servers (`make chaos`, issue #10).

Exit 0 when nothing was lost or done twice and the ledger verifies; 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from dataclasses import replace

from scripts.chaos.report import figures, lines
from scripts.chaos.run import Options, run


def _options(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m scripts.chaos", description=__doc__)
    p.add_argument("--operations", type=int, default=3000, help="fixed count of operations")
    p.add_argument("--rounds", type=int, default=3, help="times each of the 6 faults is injected")
    p.add_argument("--workers", type=int, default=4, help="concurrent client sessions")
    p.add_argument("--seed", type=int, default=1, help="random seed of the operation mix")
    p.add_argument("--replicas", type=int, default=1, help="replicas of each service")
    p.add_argument(
        "--nodes", type=int, default=1, help="RabbitMQ nodes (3: a cluster, with a partition fault)"
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    p.add_argument(
        "--self-check",
        action="store_true",
        help="afterwards, sabotage the private stores and check the reconciliation notices",
    )
    p.add_argument(
        "--tamper-check",
        action="store_true",
        help="afterwards, play docs/audit.md's tamper table on copies of the run's database",
    )
    a = p.parse_args(argv)
    return Options(
        operations=a.operations,
        rounds=a.rounds,
        workers=a.workers,
        seed=a.seed,
        practitioners=2 * a.workers,
        keep=a.keep,
        replicas=a.replicas,
        nodes=a.nodes,
        self_check=a.self_check,
        tamper_check=a.tamper_check,
    )


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt  # unwinds through run(): services and private servers stop


def main(argv: list[str]) -> int:
    """Run, print the summary, exit by its verdict."""
    signal.signal(signal.SIGTERM, _terminate)
    options = _options(argv)
    # The work directory (logs, stores, mails) outlives a failed run, for the post-mortem.
    result = run(replace(options, keep=True), lambda line: print(line, flush=True))
    passed = bool(figures(result)["passed"])
    for line in lines(result):
        print(line, flush=True)
    if passed and not options.keep:
        shutil.rmtree(result.work_dir, ignore_errors=True)
    else:
        print(f"work directory kept: {result.work_dir}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
