"""`carnet audit heads export`, `prove inclusion|consistency`, `export-bundle`: what an outside
party needs to check the ledger without trusting its database (docs/audit.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from services.cli.audit_cmd import _instant, audit
from services.cli.audit_keys import cannot_check, configured_keys, database_error
from services.cli.rebuild_cmd import TotalProgress

_database = click.option(
    "--database-url",
    default=None,
    help="The ledger's database; defaults to $DATABASE_URL (a role that reads audit.ledger).",
)


@contextmanager
def _snapshot(database_url: str | None) -> Iterator[Any]:
    """One read-only REPEATABLE READ transaction: heads, rows and proofs of one instant."""
    import psycopg

    from services.common.config import Settings

    url = database_url or Settings.from_env().database_url
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                yield conn
    except psycopg.Error as exc:
        raise database_error("the ledger's database", exc) from None


def _proved(make: Callable[[Any], Any], database_url: str | None) -> Any:
    """Run a prover in one snapshot; a proof that cannot exist is exit 2 with its reason."""
    from services.audit.prover import CannotProve

    try:
        with _snapshot(database_url) as conn:
            return make(conn)
    except CannotProve as exc:
        raise cannot_check(str(exc)) from None


def _leaves() -> TotalProgress:
    """Proofs and bundles read every leaf up to their tree: a rate line a second on stderr
    (10M rows take seconds), as `replay rebuild` shows its read."""
    return TotalProgress("read", "leaves")


@audit.group("heads")
def heads() -> None:
    """The ledger's signed tree heads, for parties outside its database."""


@heads.command("export")
@click.option("--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_database
@click.option(
    "--witness",
    "witness_url",
    default=None,
    help="Export the witness's copy (with its cosignatures) from this database URL instead.",
)
def export_heads(to: Path, database_url: str | None, witness_url: str | None) -> None:
    """Write every signed head as JSON lines (size, root, time, key id, signature)."""
    from services.audit.heads import ledger_heads, write_jsonl
    from services.witness.store import WitnessUnreadable, load_witnessed

    if witness_url:
        try:
            found = load_witnessed(witness_url)
        except WitnessUnreadable as exc:
            raise cannot_check(str(exc)) from None
    else:
        with _snapshot(database_url) as conn:
            found = ledger_heads(conn)
    count = write_jsonl(found, to)
    click.echo(f"{count} signed head(s) written to {to}", err=True)


@audit.group("prove")
def prove() -> None:
    """RFC 9162 proofs from the ledger, as JSON on stdout."""


@prove.command("inclusion")
@click.option("--seq", type=click.IntRange(1), required=True, help="The ledger row.")
@click.option(
    "--tree-size",
    type=click.IntRange(1),
    default=None,
    help="The tree to prove it in; default the newest signed head.",
)
@_database
def prove_inclusion(seq: int, tree_size: int | None, database_url: str | None) -> None:
    """The audit path of row SEQ to a signed head: its entry hash, the head, the path."""
    from services.audit.prover import inclusion

    proof = _proved(lambda c: inclusion(c, seq, tree_size, _leaves()), database_url)
    click.echo(json.dumps(proof, indent=2))


@prove.command("consistency")
@click.option("--from", "first", type=click.IntRange(1), required=True, help="Older tree size.")
@click.option("--to", "second", type=click.IntRange(1), required=True, help="Newer tree size.")
@_database
def prove_consistency(first: int, second: int, database_url: str | None) -> None:
    """The proof that the tree of --to rows extends the tree of --from rows (with the signed
    heads of those sizes, when there are)."""
    from services.audit.prover import consistency

    proof = _proved(lambda c: consistency(c, first, second, _leaves()), database_url)
    click.echo(json.dumps(proof, indent=2))


@audit.command("export-bundle")
@click.option("--from", "start", required=True, callback=_instant, help="ISO-8601, inclusive.")
@click.option("--to", "end", required=True, callback=_instant, help="ISO-8601, exclusive.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_database
def export_bundle_cmd(start: datetime, end: datetime, out: Path, database_url: str | None) -> None:
    """The rows recorded in [--from, --to), their signed heads, proofs and public keys, for
    `python -m carnet_verify` (no database, no Carnet code needed)."""
    from services.audit.bundle import export_bundle

    keys = configured_keys()
    bundle, left_out = _proved(
        lambda c: export_bundle(c, start, end, keys, _leaves()), database_url
    )
    out.write_text(json.dumps(bundle, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    window = bundle["window"]
    click.echo(
        f"seq {window['first_seq']}..{window['last_seq']} ({len(bundle['entries'])} entries, "
        f"{len(bundle['heads'])} signed heads) written to {out}",
        err=True,
    )
    if left_out:
        click.echo(
            f"{left_out} later row(s) of the window are not under a signed head yet: left out "
            "(export again after the next checkpoint)",
            err=True,
        )
