"""alerts.yml, the runbook and the code agree: metric names, one section per alert, commands."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest
import yaml
from prometheus_client import REGISTRY

from services.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("identity", "booking", "notification", "audit")
METRIC = re.compile(r"\bcarnet_[a-z_]+\b")
ALERT = re.compile(r"\bCarnet[A-Z][A-Za-z]+\b")
# Issue #9's runbook alerts, by section anchor.
REQUIRED = {
    "relay-lag",
    "consumer-lag",
    "dead-letters",
    "ledger-verify-failed",
    "suspicious-access",
    "smtp-failures",
}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def registered() -> set[str]:
    """Every sample name the four services register once their modules are imported."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.service")
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def rules() -> list[dict]:
    spec = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule for group in spec["groups"] for rule in group["rules"]]


def sections() -> dict[str, str]:
    """Runbook sections by GitHub anchor: `## Ledger verify failed` -> `ledger-verify-failed`."""
    parts = re.split(r"^## (.+)$", (ROOT / "docs/runbook.md").read_text(), flags=re.M)
    return {
        re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-"): body
        for title, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def anchor(rule: dict) -> str:
    link = rule["annotations"]["runbook_url"]
    assert link.startswith("{{ $externalLabels.runbook_base }}/runbook.md#"), link
    return link.partition("#")[2]


def test_every_alert_reads_metrics_the_services_register():
    names = registered()
    for rule in rules():
        used = set(METRIC.findall(rule["expr"]))
        assert used or 'up{job="carnet"' in rule["expr"], rule["alert"]  # Prometheus's own
        assert used <= names, (rule["alert"], sorted(used - names))


def test_each_alert_has_a_runbook_section_naming_it_and_its_metrics():
    book = sections()
    for rule in rules():
        section = book.get(anchor(rule))
        assert section is not None, (rule["alert"], anchor(rule))
        assert rule["alert"] in ALERT.findall(section), rule["alert"]
        for name in METRIC.findall(rule["expr"]):
            assert name in section, (rule["alert"], name)


def test_the_runbook_names_only_alerts_that_exist_and_covers_issue_9s_six():
    alerts = {rule["alert"] for rule in rules()}
    named = {a for body in sections().values() for a in ALERT.findall(body)}
    assert named == alerts  # none missing, none stale
    assert {anchor(rule) for rule in rules()} >= REQUIRED
    for key in REQUIRED:
        assert "*Look*" in sections()[key] and "*Repair*" in sections()[key], key


def runbook_commands() -> list[list[str]]:
    text = (ROOT / "docs/runbook.md").read_text()
    return [c.split() for c in re.findall(r"`(carnet [^`]+)`", text)]


@pytest.mark.parametrize("words", runbook_commands(), ids=" ".join)
def test_every_command_the_runbook_gives_exists_with_its_options(words):
    command: click.Command = cli
    rest = words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    assert not isinstance(command, click.Group), f"{' '.join(words)}: no such command"
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    for word in rest:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--"):
            assert option in options, f"{' '.join(words)}: no option {option}"


def test_the_runbook_metrics_table_lists_every_metric_the_services_export():
    registered()
    families = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("carnet_")
    }
    listed = set(METRIC.findall(sections()["metrics"]))
    assert families <= listed, sorted(families - listed)
