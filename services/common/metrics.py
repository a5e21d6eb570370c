"""Prometheus metrics shared by every service (one registry per process, scraped at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RELAY_PUBLISHED = Counter(
    "carnet_relay_published_events_total",
    "Events the relay published and saw confirmed.",
    ["service"],
)
RELAY_LAG_EVENTS = Gauge(
    "carnet_relay_lag_events", "Committed events not yet published by the relay.", ["service"]
)
RELAY_LAG_SECONDS = Gauge(
    "carnet_relay_lag_seconds", "Age of the oldest committed event not yet published.", ["service"]
)
RELAY_LEADER = Gauge(
    "carnet_relay_is_leader", "1 when this process's relay holds the publishing lock.", ["service"]
)
MESSAGES_DEAD_LETTERED = Counter(
    "carnet_messages_dead_lettered_total",
    "Messages a consumer parked in its DLQ.",
    ["queue", "reason"],
)
MESSAGES_REQUEUED = Counter(
    "carnet_messages_requeued_total", "Messages requeued after a handler failure.", ["queue"]
)
NOTIFICATIONS_SENT = Counter(
    "carnet_notifications_sent_total", "Messages accepted by a channel.", ["template", "channel"]
)
NOTIFICATIONS_FAILED = Counter(
    "carnet_notifications_failed_total",
    "Delivery failures; final=true when the notification was given up.",
    ["template", "error_code", "final"],
)
HTTP_REQUEST_DURATION = Histogram(
    "carnet_http_request_duration_seconds",
    "Time from request received to response ready, per route template (never the raw path).",
    ["service", "method", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_RESPONSES = Counter(
    "carnet_http_responses_total",
    "HTTP responses sent, by route template and status class (2xx, 3xx, 4xx, 5xx).",
    ["service", "route", "status_class"],
)
