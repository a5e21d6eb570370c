"""Notification's HTTP interface: none of its own, only the shared health and metrics routes."""

from __future__ import annotations

from services.common.http.routes import Api

API = Api("notification", "Health and metrics only: notices go out by e-mail and SMS.", ())
