"""Hands each consumer worker an Inbox keyed by its own handler, on the service's pool."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from services.common.inbox import Inbox
from services.common.nameko_ext.database import pool_of


class InboxProvider(DependencyProvider):
    """`self.inbox.once(event.event_id, effect)` inside an `@consume_event` method."""

    def get_dependency(self, worker_ctx: Any) -> Inbox:
        """The consumer name is `<service>.<method>`: one idempotency scope per handler."""
        pool = pool_of(self.container)
        service = self.container.service_name
        return Inbox(pool, service, f"{service}.{worker_ctx.entrypoint.method_name}")
