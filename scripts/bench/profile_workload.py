"""Carnet's side of one store workload alone, for all.py to profile under py-spy.

`python scripts/bench/profile_workload.py append|read|relay [...]`: the same code paths as
store.py's Carnet side (EventStore.append in writer processes, read_all, Relay.publish_once)
on a throwaway database and vhost, with no raw side and no timing of its own.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)

from scripts.bench import _read, _relay
from scripts.bench._appends import WriterGang
from scripts.bench._env import Servers, bench_env


def main(argv: list[str] | None = None) -> int:
    """Run one workload once, on its own database and vhost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("append", "read", "relay"))
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--events", type=int, default=6000)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda s, _f: (_ for _ in ()).throw(KeyboardInterrupt(s)))
    with bench_env(Servers()) as env:
        schema = env.fresh_schema(with_raw=False)
        if args.workload == "append":
            with WriterGang(args.writers) as gang:
                batches = args.events // args.batch
                gang.measure(env.database_url, schema, "xid", 0, batches, args.batch)
        elif args.workload == "read":
            _read.fill(env.database_url, schema, args.events)
            for _ in range(3):
                _read.walk(env.database_url, schema, ["carnet"], args.events)
        else:
            _read.fill(env.database_url, schema, args.events)
            _relay.declare_queue(env.amqp_uri)
            with _relay.relay_for(env.database_url, schema, env.amqp_uri, "profile") as relay:
                cursor = relay.position.load()
                while (after := relay.publish_once(cursor)) != cursor:
                    cursor = after
            _relay.drain_queue(env.amqp_uri, args.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
