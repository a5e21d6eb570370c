"""`carnet contracts`: inspect the event contracts and export them as an AsyncAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from contracts import REGISTRY
from contracts.asyncapi import build_document
from services.cli.errors import CarnetGroup


@click.group(cls=CarnetGroup)
def contracts() -> None:
    """Event contracts shared by the services: list them, export them as AsyncAPI."""


@contracts.command("asyncapi")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write here instead of stdout; YAML if it ends in .yaml/.yml, else JSON.",
)
def asyncapi(output: Path | None) -> None:
    """Write the AsyncAPI 2.6.0 document generated from the contract registry."""
    document = build_document()
    as_yaml = output is not None and output.suffix.lower() in {".yaml", ".yml"}
    if as_yaml:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output} ({len(document['channels'])} channels)", err=True)


@contracts.command("list")
def list_contracts() -> None:
    """Print every event type with its latest version, exchange and routing key."""
    rows = [
        (c.event_type, str(c.version), c.exchange, c.routing_key)
        for c in REGISTRY.latest_contracts()
    ]
    header = ("TYPE", "VERSION", "EXCHANGE", "ROUTING KEY")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
