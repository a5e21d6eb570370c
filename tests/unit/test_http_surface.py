"""Each service's route table is its `@http` surface, and its served document comes from it."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from jsonschema import Draft202012Validator
from nameko.containers import ServiceContainer
from nameko.web.handlers import http

from services.common.config import SERVICES
from services.common.http.health import PUBLIC_ROUTES
from services.common.http.openapi import document
from services.common.http.routes import Api
from services.common.nameko_ext.http_api import HttpApi, Served, surface, table_surface


def service_class(service: str) -> type:
    module = importlib.import_module(f"services.{service}.service")
    return getattr(module, f"{service.capitalize()}Service")


@pytest.mark.parametrize("service", SERVICES)
def test_route_table_is_the_service_surface(service):
    cls = service_class(service)
    container = ServiceContainer(cls, {"AMQP_URI": "memory://"})
    served = surface(container.entrypoints)
    assert served == table_surface(cls.api.api)
    assert {name for name, _, _ in served} >= {r.name for r in PUBLIC_ROUTES}


@pytest.mark.parametrize("service", SERVICES)
def test_served_document_is_the_generated_one_and_valid(service):
    api = service_class(service).api.api
    doc = json.loads(Served(api, None).document().get_data())
    assert doc == document(api)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == f"Carnet {service}"
    routes = {(r.method.lower(), r.path): r.name for r in (*api.routes, *PUBLIC_ROUTES)}
    found = {(m, p): op["operationId"] for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert found == routes
    for path, operations in doc["paths"].items():
        for op in operations.values():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), path
            assert any(code.startswith("2") for code in op["responses"])
    components = doc["components"]["schemas"]
    for schema in components.values():
        Draft202012Validator.check_schema(schema)
    refs = re.findall(r"#/components/schemas/(\w+)", json.dumps(doc))
    assert set(refs) <= set(components)


class Stray:
    """An entrypoint the table does not know."""

    name = "stray"
    api = HttpApi(Api("stray", "A service whose table is empty.", ()))

    @http("GET", "/extra")
    def extra(self, request):
        return self.api.serve(request)


def test_a_service_whose_entrypoints_and_table_disagree_does_not_start():
    container = ServiceContainer(Stray, {"AMQP_URI": "memory://"})
    (provider,) = [d for d in container.dependencies if isinstance(d, HttpApi)]
    with pytest.raises(RuntimeError, match="without a route: \\[\\('extra'"):
        provider.setup()
