"""Root conftest: eventlet must patch before anything imports sockets, or broker tests hang."""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

from tests.support.consumers import poll_faster  # noqa: E402

poll_faster()

pytest_plugins = ["tests.support.infra", "tests.support.smtp_server"]
