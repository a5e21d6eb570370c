"""What synchronous replication costs a commit (docs/deploy.md "PostgreSQL", #24 item 5).

`python scripts/bench/sync_commit.py`: a private primary and a streaming standby on this
machine (scripts/chaos/infra.py), single-row event-sized commits with 1 and 4 writers, first
with the standby asynchronous, then synchronous (`synchronous_standby_names = '*'`), each
3 times alternately; prints the medians and the ratio. On one machine the standby's network
is loopback: a real standby adds its round trip to every commit.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.chaos.infra import primary_with_standby

COMMITS = 1500
PAYLOAD = '{"slot_id": "0b6f7c1e-0000-4000-8000-000000000000", "reason": "synthetic"}'


def commits_per_s(url: str, writers: int) -> float:
    """`COMMITS` single-row inserts per writer, each its own transaction; commits per second."""

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(COMMITS):
                conn.execute("INSERT INTO e (data) VALUES (%s)", (PAYLOAD,))

    threads = [threading.Thread(target=write) for _ in range(writers)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return writers * COMMITS / (time.perf_counter() - began)


def set_sync(url: str, sync: bool) -> None:
    """Make the standby synchronous (or not) and wait until the primary says so."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{'*' if sync else ''}'")
        conn.execute("SELECT pg_reload_conf()")
        want = "sync" if sync else "async"
        deadline = time.monotonic() + 30
        while conn.execute("SELECT sync_state FROM pg_stat_replication").fetchone() != (want,):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby never became {want}")
            time.sleep(0.1)


def main() -> None:
    """Run both modes alternately and print the table."""
    with primary_with_standby("carnet-sync-") as (primary, _standby):
        url = primary.url("postgres")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE e (id bigserial PRIMARY KEY, data jsonb NOT NULL)")
        runs: dict[tuple[str, int], list[float]] = {}
        for _ in range(3):
            for mode in ("async", "sync"):
                set_sync(url, mode == "sync")
                for writers in (1, 4):
                    runs.setdefault((mode, writers), []).append(commits_per_s(url, writers))
    print(f"nproc {os.cpu_count()}; {COMMITS} commits per writer; median of 3 runs\n")
    print("| writers | asynchronous standby | synchronous standby | sync / async |")
    print("|---:|---:|---:|---:|")
    for writers in (1, 4):
        a = statistics.median(runs[("async", writers)])
        s = statistics.median(runs[("sync", writers)])
        print(f"| {writers} | {a:,.0f} commits/s | {s:,.0f} commits/s | {s / a:.2f} |")


if __name__ == "__main__":
    main()
