"""Writes deploy/grafana/dashboards/carnet.json, the on-call dashboard, from the panel list
below: one source of truth, the JSON a build product (a test checks they agree).

Run: python scripts/build_dashboard.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "carnet.json"
RATE = "[5m]"
DATASOURCE = {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data"}
# (title, unit, [(expr, legend)], runbook section): in the order on-call reads them.
PANELS: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("Services up (replicas answering /metrics)", "short",
     [('sum by (service) (up{job="carnet"})', "{{service}}")], "service-down"),
    ("Bookings per second", "reqps",
     [('sum(rate(carnet_events_appended_total{service="booking",event_type="AppointmentBooked"}'
       f'{RATE}))', "booked")], "capacity"),
    ("Recorded reads per second (access records)", "reqps",
     [(f"sum by (operation, outcome) (rate(carnet_booking_access_records_total{RATE}))",
       "{{operation}} {{outcome}}")], "capacity"),
    ("HTTP p99 latency", "s",
     [("histogram_quantile(0.99, sum by (service, le) "
       f"(rate(carnet_http_request_duration_seconds_bucket{RATE})))", "{{service}}")],
     "http-errors"),
    ("HTTP 5xx share", "percentunit",
     [(f'sum by (service) (rate(carnet_http_responses_total{{status_class="5xx"}}{RATE})) / '
       f"sum by (service) (rate(carnet_http_responses_total{RATE}))", "{{service}}")],
     "http-errors"),
    ("Relay lag (oldest unpublished event)", "s",
     [("max by (service) (carnet_relay_lag_seconds)", "{{service}}")], "relay-lag"),
    ("Relay leaders (1 per service)", "short",
     [("sum by (service) (carnet_relay_is_leader)", "{{service}}")], "relay-lag"),
    ("Consumer lag", "s",
     [("max by (queue) (carnet_consumer_lag_seconds)", "{{queue}}")], "consumer-lag"),
    ("Ledger lag (audit's ledger queues)", "s",
     [('max by (queue) (carnet_consumer_lag_seconds{queue=~"carnet.q.audit.ledger_.*"})',
       "{{queue}}")], "consumer-lag"),
    ("Ledger verify: age and result", "s",
     [("time() - max by (scope) (carnet_audit_ledger_verify_timestamp_seconds)", "age {{scope}}"),
      ("min by (scope) (carnet_audit_ledger_verify_ok)", "ok {{scope}}")],
     "ledger-verify-failed"),
    ("Detections (last hour)", "short",
     [("sum by (rule, severity) "
       "(increase(carnet_audit_suspicious_access_detected_total[1h]))", "{{rule}} {{severity}}")],
     "suspicious-access"),
    ("Refused reads and requests (quotas, reach, tokens)", "reqps",
     [('sum(rate(carnet_booking_access_records_total{outcome="denied"}' f"{RATE}))",
       "refused reads"),
      (f"sum by (service, reason) (rate(carnet_requests_denied_total{RATE}))",
       "{{service}} {{reason}}")], "suspicious-access"),
    ("Dead letters", "short",
     [("max by (queue) (carnet_dead_letter_messages)", "waiting {{queue}}"),
      ("sum by (queue, reason) (increase(carnet_messages_dead_lettered_total[1h]))",
       "parked/h {{queue}} {{reason}}")], "dead-letters"),
    ("Notifications", "short",
     [(f"sum by (channel) (rate(carnet_notifications_sent_total{RATE}))", "sent {{channel}}"),
      (f"sum by (error_code) (rate(carnet_notifications_failed_total{RATE}))",
       "failed {{error_code}}")], "smtp-failures"),
]  # fmt: skip


def panel(i: int, title: str, unit: str, targets: list[tuple[str, str]], section: str) -> dict:
    """One timeseries panel, two per row, naming its runbook section."""
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "description": f"What to do: docs/runbook.md#{section}",
        "targets": [
            {"refId": chr(65 + n), "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard() -> dict:
    """The whole dashboard as Grafana imports it (schema 39)."""
    return {
        "uid": "carnet-oncall",
        "title": "Carnet on-call",
        "tags": ["carnet"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [DATASOURCE]},
        "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
    }


def main() -> None:
    """Write the JSON (sorted keys, stable diffs)."""
    OUT.write_text(json.dumps(dashboard(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[3])} ({len(PANELS)} panels)")


if __name__ == "__main__":
    main()
