"""The on-call dashboard: built from scripts/build_dashboard.py, reading only metrics the
services export, every panel pointing at a runbook section, its PromQL valid (promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from scripts.build_dashboard import OUT, dashboard
from services.common import metrics

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bcarnet_[a-z_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def exported() -> set[str]:
    import services.booking.access  # its counters are module globals, read below

    names = {
        family.name
        for value in [*vars(metrics).values(), *vars(services.booking.access).values()]
        if isinstance(value, MetricWrapperBase)
        for family in value.describe()
    }
    return {n + s for n in names for s in SUFFIXES}


def exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_the_file_is_what_the_script_builds():
    assert json.loads(OUT.read_text()) == json.loads(json.dumps(dashboard()))


def test_panels_read_exported_metrics_and_name_a_runbook_section():
    names = exported()
    runbook = (ROOT / "docs/runbook.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", runbook, re.M)
    }
    for p in dashboard()["panels"]:
        for t in p["targets"]:
            assert set(METRIC.findall(t["expr"])) <= names, (p["title"], t["expr"])
        assert p["description"].split("#")[1] in anchors, p["title"]
    titles = " ".join(p["title"].lower() for p in dashboard()["panels"])
    for word in ("services up", "relay lag", "consumer lag", "ledger lag", "ledger verify",
                 "detections", "refused", "dead letters", "bookings", "reads"):  # fmt: skip
        assert word in titles, word


def test_compose_provisions_prometheus_and_grafana_with_this_dashboard():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert (
        "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro"
        in services["grafana"]["volumes"]
    )
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/carnet.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_panel_query_is_valid_promql(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"carnet_dashboard_query_{i}", "expr": e} for i, e in enumerate(exprs())
    ]}]}  # fmt: skip
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
