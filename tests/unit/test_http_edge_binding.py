"""Every HTTP entrypoint of every service is behind the shared edge, service.py unchanged."""

import importlib

import pytest
from nameko.containers import ServiceContainer
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer

from services.common.config import SERVICES
from services.common.nameko_ext.http_metrics import CarnetWebServer, method_label, status_class


@pytest.mark.parametrize("service", SERVICES)
def test_every_http_entrypoint_shares_the_carnet_web_server(service):
    module = importlib.import_module(f"services.{service}.service")
    container = ServiceContainer(
        getattr(module, f"{service.capitalize()}Service"), {"AMQP_URI": "memory://"}
    )
    servers = {e.server for e in container.entrypoints if isinstance(e, HttpRequestHandler)}
    assert len(servers) == 1
    (server,) = servers
    assert type(server) is CarnetWebServer
    assert container.shared_extensions[WebServer] is server
    routes = {e.url for e in container.entrypoints if isinstance(e, HttpRequestHandler)}
    assert {"/health/live", "/health/ready", "/metrics"} <= routes


def test_labels_stay_few():
    assert [status_class(s) for s in (200, 201, 304, 404, 503)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
    ]
    assert [method_label(m) for m in ("GET", "PATCH", "BREW", "get")] == [
        "GET",
        "PATCH",
        "OTHER",
        "OTHER",
    ]
