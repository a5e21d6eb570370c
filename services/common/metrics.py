"""Prometheus metrics shared by every service (one registry per process, scraped at /metrics).

What each one means and which alert reads it: docs/runbook.md. Label values come from small
fixed sets (service, queue, event type, route template, reason class): never an id or a path.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INSTANCE_INFO = Gauge(
    "carnet_instance_info",
    "1 per service running in this process, named as its log lines and spans name the replica.",
    ["service", "instance_id"],
)
EVENTS_APPENDED = Counter(
    "carnet_events_appended_total",
    "Events committed to the service's store, by type (counted after the commit).",
    ["service", "event_type"],
)

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
# -- consumers (nameko_ext/consumer.py counts; nameko_ext/queue_metrics.py polls the broker) --
CONSUMER_READY = Gauge(
    "carnet_consumer_messages_ready",
    "Messages in a consumer queue not yet delivered to any consumer (broker, polled).",
    ["queue"],
)
CONSUMER_UNACKED = Gauge(
    "carnet_consumer_messages_unacked",
    "Messages this process received from the queue and has not acked, requeued or parked yet.",
    ["queue"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "carnet_consumer_lag_seconds",
    "While messages wait: now minus the occurred_at of the newest event applied (or the last "
    "time the queue was seen empty, if later); 0 when nothing waits.",
    ["queue"],
)
CONSUMER_REDELIVERED = Counter(
    "carnet_consumer_redelivered_total",
    "Deliveries of a message delivered before (redelivered flag or x-delivery-count above 0).",
    ["queue"],
)
CONSUMER_BATCH_SIZE = Histogram(
    "carnet_consumer_batch_size",
    "Events one `@consume_batch` worker applied in one transaction.",
    ["queue"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
CONSUMER_BATCHES_SPLIT = Counter(
    "carnet_consumer_batches_split_total",
    "Batches that failed and were run again one event at a time (poison or a transient error).",
    ["queue"],
)
DEAD_LETTER_MESSAGES = Gauge(
    "carnet_dead_letter_messages",
    "Messages parked in a dead-letter queue, waiting for an operator (broker, polled).",
    ["queue"],
)
# -- refusals and detections -------------------------------------------------------------------
REQUESTS_DENIED = Counter(
    "carnet_requests_denied_total",
    "Requests refused: authentication (401, or a failed sign-in) or authorization (403).",
    ["service", "reason"],
)
SUSPICIOUS_ACCESS_DETECTED = Counter(
    "carnet_audit_suspicious_access_detected_total",
    "SuspiciousAccessDetected committed by audit's detection rules, by rule and severity.",
    ["rule", "severity"],
)
# -- the audit ledger's verification (services/audit/tail_verify.py, GET /v1/audit/verify) -----
LEDGER_VERIFY_OK = Gauge(
    "carnet_audit_ledger_verify_ok",
    "1 when the last ledger verify of this scope (tail: periodic; full: on request) found "
    "nothing, 0 when it found tampering or loss.",
    ["scope"],
)
LEDGER_VERIFY_TIMESTAMP = Gauge(
    "carnet_audit_ledger_verify_timestamp_seconds",
    "Unix time the last ledger verify of this scope completed (whatever it found).",
    ["scope"],
)
# -- the witness of the ledger's signed heads (services/witness, `carnet witness run`) --------
WITNESS_HEADS = Counter(
    "carnet_witness_heads",
    "Signed tree heads the witness examined: witnessed, or refused (kind: fork, rollback, ...).",
    ["outcome", "kind"],
)
WITNESS_TREE_SIZE = Gauge(
    "carnet_witness_tree_size", "Tree size of the last head the witness accepted."
)
WITNESS_ROUND_TIMESTAMP = Gauge(
    "carnet_witness_round_timestamp_seconds", "When the witness last completed a round."
)
