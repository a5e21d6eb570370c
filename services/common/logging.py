"""structlog JSON logs for on-call: one event per line, ids bound, PII and secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any, TextIO

import structlog

from services.common.instance import instance_id
from services.common.tracing import log_ids

REDACTED = "[redacted]"

# A key is sensitive when any of its parts (split on _ - . and case) is one of these.
SENSITIVE_KEY_PARTS: frozenset[str] = frozenset(
    {
        "name",
        "names",
        "given",
        "family",
        "firstname",
        "lastname",
        "surname",
        "email",
        "mail",
        "phone",
        "mobile",
        "telecom",
        "sms",
        "birth",
        "birthdate",
        "dob",
        "token",
        "tokens",
        "password",
        "passwd",
        "pwd",
        "secret",
        "secrets",
        "key",
        "keys",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "medical",
        "note",
        "notes",
        "comment",
        "diagnosis",
    }
)
# Keys whose parts look sensitive but whose values on-call needs and which carry no PII.
SAFE_KEYS: frozenset[str] = frozenset(
    {
        "event",
        "service",
        "service.name",
        "service.instance.id",
        "routing_key",
        "key_id",
        "queue_name",
        "exchange_name",
        "logger_name",
    }
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{8,15}|0\d(?:[ .]?\d{2}){4})(?![\w])")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
# A URI's password (an AMQP_URI names every node of a cluster, nameko masks the first only).
_URI_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s;]+:)[^@\s;]+@", re.I)
_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z])(?=[A-Z])")


def is_sensitive_key(key: str) -> bool:
    """True when a field named `key` may hold personal data or a secret."""
    if key in SAFE_KEYS:
        return False
    parts = {p.lower() for p in _SPLIT.split(key) if p}
    return bool(parts & SENSITIVE_KEY_PARTS) or key.lower() in SENSITIVE_KEY_PARTS


def scrub_text(text: str) -> str:
    """Mask URI passwords, e-mail addresses, phone numbers and bearer credentials in free text."""
    text = _URI_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _EMAIL.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PHONE.sub(REDACTED, text)


def redact(value: Any, key: str | None = None) -> Any:
    """Return `value` with sensitive keys masked and PII patterns scrubbed, recursively."""
    if key is not None and is_sensitive_key(key):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v) for v in value]
    return value


def redaction_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: nothing sensitive leaves the process through a log line."""
    for k in list(event_dict):
        if k in ("timestamp", "level"):
            continue
        event_dict[k] = redact(event_dict[k], k)
    return event_dict


INSTANCE = instance_id()  # which replica wrote the line (CARNET_INSTANCE_ID, else host-pid)


def _default_service(service: str) -> structlog.types.Processor:
    """Name the line's service, replica and trace as OpenTelemetry's resource and log model do."""

    def add_service(_l: Any, _m: str, ed: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        ed.setdefault("service.name", ed.pop("service", service))
        ed.setdefault("service.instance.id", INSTANCE)
        ed.setdefault("correlation_id", None)
        ed.setdefault("causation_id", None)
        for key, value in log_ids().items():
            ed.setdefault(key, value)
        return ed

    return add_service


def _shared_processors(service: str) -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _default_service(service),
        structlog.processors.format_exc_info,
        redaction_processor,
    ]


def json_formatter(service: str = "carnet") -> logging.Formatter:
    """A stdlib formatter that renders third-party log records (nameko, kombu) as our JSON."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors(service)],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )


class ExpectedErrorsAreInfo(logging.Filter):
    """nameko logs an RPC's declared refusal (identity's AuthenticationError for a suspended
    token) as a WARNING with its traceback: dozens per replica per suspension, for an answer
    the caller records itself. Here it is one INFO line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote nameko's "(expected) error handling worker" records; pass the rest."""
        if record.levelno == logging.WARNING and str(record.msg).startswith("(expected) error"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def quiet_expected_errors() -> None:
    """Install ExpectedErrorsAreInfo on nameko's container logger (once per process)."""
    logger = logging.getLogger("nameko.containers")
    if not any(isinstance(f, ExpectedErrorsAreInfo) for f in logger.filters):
        logger.addFilter(ExpectedErrorsAreInfo())


def configure_structlog(service: str) -> None:
    """Make structlog loggers hand their events to stdlib logging, rendered by json_formatter."""
    structlog.configure(
        processors=[
            *_shared_processors(service),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def has_json_handler() -> bool:
    """True when the root logger already renders JSON (e.g. set by config.yaml's LOGGING)."""
    return any(
        isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
        for h in logging.getLogger().handlers
    )


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging to `stream` as one JSON object per line."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    configure_structlog(service)


def bind_message_context(
    correlation_id: str | None, causation_id: str | None = None, **extra: Any
) -> None:
    """Bind the ids of the message being handled to every log line of this worker."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        correlation_id=correlation_id, causation_id=causation_id, **extra
    )


def bind_context(**ids: Any) -> None:
    """Add ids (request id, principal) to this worker's log lines, keeping those bound."""
    structlog.contextvars.bind_contextvars(**ids)


def bound_ids(**ids: Any) -> AbstractContextManager[Any]:
    """These ids on every line within the block; those bound before come back after it."""
    return structlog.contextvars.bound_contextvars(**ids)


def clear_message_context() -> None:
    """Forget the handled message's ids, so the next worker does not inherit them."""
    structlog.contextvars.clear_contextvars()


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger; configuration happens once at process start, never at import."""
    return structlog.stdlib.get_logger(name)


def current_ids() -> dict[str, Any]:
    """The correlation and causation ids bound to this worker (for event metadata)."""
    bound = structlog.contextvars.get_contextvars()
    return {k: bound.get(k) for k in ("correlation_id", "causation_id")}
