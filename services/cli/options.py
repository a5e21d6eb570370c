"""Options several `carnet` commands share: where the RabbitMQ management API is, as whom."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

DEFAULT_MANAGEMENT_URL = "http://127.0.0.1:15672"


def management_auth() -> tuple[str, str]:
    """The management API's credentials from the environment (guest/guest locally)."""
    return os.environ.get("RABBITMQ_USER", "guest"), os.environ.get("RABBITMQ_PASSWORD", "guest")


def management_url() -> str:
    """The management API's base URL from the environment."""
    return os.environ.get("RABBITMQ_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL)


def management_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--management-url, --user, --password, each defaulting to the environment."""
    command = click.option("--password", default=lambda: management_auth()[1])(command)
    command = click.option("--user", default=lambda: management_auth()[0])(command)
    return click.option(
        "--management-url",
        default=management_url,
        show_default=f"$RABBITMQ_MANAGEMENT_URL or {DEFAULT_MANAGEMENT_URL}",
    )(command)
