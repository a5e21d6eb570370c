"""`carnet replay rebuild PROJECTION`: a read model rebuilt beside the live one, then swapped in.

Registered on the `replay` group of replay_cmd.py (imported by services/cli/main.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from services.cli.errors import logs_on_stderr
from services.cli.replay_cmd import replay
from services.common.config import Settings

if TYPE_CHECKING:
    from services.common.projections import Projection

REBUILD_HELP = """Rebuild PROJECTION from position 0 into new tables, then swap them in.

\b
Projections: booking.views (slots, appointments) and audit.access_index
(access_requests, access_entries); --list shows them.

\b
The new tables (<table>__rebuild, made like the live ones: columns,
indexes, grants) fill batch by batch while the service keeps serving
from the live tables. Each batch commits with its cursor, so an interrupted
rebuild resumes where it stopped when run again. The swap then locks the
live tables (writers and readers wait, for the lock time it reports),
applies everything the live writers committed since and renames the new
tables into place, in one transaction. It refuses (exit 1,
nothing swapped, progress kept) when more than --max-lock-catch-up events
would have to be applied under the lock, or when the live tables changed
shape since the rebuild started.

\b
--dry-run prints the live rows, where a run would start or resume and how
many events it would read, and writes nothing. --no-swap fills and stops.
--abandon drops an unfinished rebuild. Progress (rate, ETA) goes to stderr.
"""


def projections() -> dict[str, Projection]:
    """The rebuildable projections by name."""
    from services.audit.access_index_projection import PROJECTION as ACCESS_INDEX
    from services.booking.readmodels_projection import PROJECTION as BOOKING_VIEWS

    return {p.name: p for p in (BOOKING_VIEWS, ACCESS_INDEX)}


class TotalProgress:
    """Adapts a (done, total) callback (a rebuild, a read of the ledger's leaves) to a rate
    line on stderr, at most one a second, with the total and an ETA."""

    def __init__(
        self, verb: str = "read", unit: str = "msg", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.reporter: Any = None
        self.verb, self.unit, self.clock = verb, unit, clock

    def __call__(self, done: int, total: int) -> None:
        from services.ops.replay_publish import RateReporter

        if self.reporter is None:
            echo = lambda t: click.echo(t, err=True)  # noqa: E731
            self.reporter = RateReporter(total, echo, self.verb, clock=self.clock, unit=self.unit)
        self.reporter(done)


@replay.command("rebuild", help=REBUILD_HELP)
@click.argument("projection", required=False)
@click.option("--list", "show", is_flag=True, help="List the rebuildable projections.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@click.option("--no-swap", is_flag=True, help="Fill (or resume) the new tables; do not swap.")
@click.option("--restart", is_flag=True, help="Drop an unfinished rebuild and start from 0.")
@click.option("--abandon", is_flag=True, help="Drop an unfinished rebuild and stop.")
@click.option("--batch", "batch", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option(
    "--max-lock-catch-up",
    type=click.IntRange(0),
    default=5000,
    show_default=True,
    help="Refuse the swap if more events than this remain to apply under the lock.",
)
@click.option("--database-url", default=None, help="Defaults to $DATABASE_URL.")
def rebuild(
    projection: str | None,
    show: bool,
    dry_run: bool,
    no_swap: bool,
    restart: bool,
    abandon: bool,
    batch: int,
    max_lock_catch_up: int,
    database_url: str | None,
) -> None:
    """See REBUILD_HELP."""
    known = projections()
    if show or projection is None:
        for p in known.values():
            click.echo(f"{p.name:<22} {p.description}")
        return
    if projection not in known:
        raise click.BadParameter(f"unknown projection {projection!r}; one of {sorted(known)}")
    import psycopg

    from services.ops.rebuild import Rebuild, RefusedSwap

    url = database_url or Settings.from_env().database_url
    job = Rebuild(
        lambda: psycopg.connect(url),
        known[projection],
        batch=batch,
        max_lock_catch_up=max_lock_catch_up,
        progress=TotalProgress(),
    )
    if abandon:
        job.abandon()
        click.echo(f"{projection}: unfinished rebuild dropped")
        return
    if dry_run:
        plan = job.plan()
        for table, rows in plan.tables.items():
            click.echo(f"live {table}: {rows} rows")
        if plan.resume_from is None or restart:
            click.echo(f"would start from 0 and read {plan.to_scan} events")
        else:
            click.echo(f"would resume after {plan.resume_from} and read {plan.to_scan} more events")
            for table, rows in plan.shadow_rows.items():
                click.echo(f"new {table}: {rows} rows so far")
        if plan.fingerprint_changed and not restart:
            click.echo("the live tables changed shape since it started: it would refuse")
        click.echo("would swap" if not no_swap else "would not swap (--no-swap)")
        return
    try:
        with logs_on_stderr("replay"):  # stdout is for the results below
            outcome = job.run(swap=not no_swap, restart=restart)
    except RefusedSwap as exc:
        raise click.ClickException(str(exc)) from exc
    rate = outcome.scanned / outcome.seconds if outcome.seconds else 0.0
    click.echo(
        f"{projection}: {'resumed, ' if outcome.resumed else ''}read {outcome.scanned} events"
        f" ({outcome.applied} folded) in {outcome.seconds:.1f}s, {rate:.0f} events/s"
    )
    for table, rows in outcome.rows.items():
        click.echo(f"{table}: {rows} rows")
    if outcome.swapped:
        click.echo(
            f"swapped in: {outcome.caught_up_under_lock} events applied under a"
            f" {outcome.lock_seconds * 1000:.0f} ms lock"
        )
    else:
        click.echo("not swapped (--no-swap): run again without it to swap")
