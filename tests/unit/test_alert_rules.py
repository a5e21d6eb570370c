"""Every metric an alert rule reads is one the services export, and every alert links its
runbook section by an absolute URL (on-call opens it from a page, not from a checkout)."""

import re
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.common import metrics

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bcarnet_[a-z_]+\b")
PROMETHEUS_UP = re.compile(r"\bup\{job=\"carnet\"")  # Prometheus's own series per target
# The runbook_base external label (prometheus.yml) is where the deployment serves docs/.
RUNBOOK_URL = re.compile(r"^\{\{ \$externalLabels\.runbook_base \}\}/runbook\.md(#[a-z0-9-]+)$")


def exported() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names |= {family.name for family in value.describe()}
    # Counters are exposed with a _total suffix.
    return names | {f"{n}_total" for n in names}


def test_alert_rules_use_exported_metrics_and_link_the_runbook():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    runbook = (ROOT / "docs/runbook.md").read_text()
    anchors = {
        "#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", runbook, re.M)
    }
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = set(METRIC.findall(rule["expr"]))
            assert used or PROMETHEUS_UP.search(rule["expr"]), rule["alert"]
            assert used <= exported(), (rule["alert"], used - exported())
            link = RUNBOOK_URL.match(rule["annotations"]["runbook_url"])
            assert link and link[1] in anchors, (rule["alert"], rule["annotations"]["runbook_url"])
            assert "runbook" not in rule["annotations"], rule["alert"]  # a relative path goes


def test_the_runbook_base_comes_from_the_deployers_environment():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["global"]["external_labels"]["runbook_base"] == "${CARNET_RUNBOOK_BASE}"
