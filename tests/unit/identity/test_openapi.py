"""/openapi.json: generated from the route table, which must match service.py's @http surface."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from jsonschema import Draft202012Validator

from services.identity.openapi import document
from services.identity.routes import ROUTES

SERVICE = Path(__file__).resolve().parents[3] / "services" / "identity" / "service.py"
UNDOCUMENTED = {("GET", "/openapi.json")}


def http_entrypoints() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every @http decorator in service.py, f-strings resolved."""
    source = SERVICE.read_text()
    p, c = re.search(r'^P, C = "([^"]+)", "([^"]+)"', source, re.M).groups()
    consts = {"P": p, "C": c}
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "http":
            method = node.args[0].value
            arg = node.args[1]
            if isinstance(arg, ast.Name):
                path = consts[arg.id]
            elif isinstance(arg, ast.JoinedStr):
                path = "".join(
                    consts[v.value.id] if isinstance(v, ast.FormattedValue) else v.value
                    for v in arg.values
                )
            else:
                path = arg.value
            found.add((method, re.sub(r"<string:(\w+)>", r"{\1}", path)))
    return found


def test_route_table_is_the_service_surface():
    assert http_entrypoints() - UNDOCUMENTED == {(r.method, r.path) for r in ROUTES}


def test_document_is_openapi_3_1_with_resolvable_refs_and_valid_schemas():
    doc = document()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    components = doc["components"]["schemas"]
    for schema in components.values():
        Draft202012Validator.check_schema(schema)
    refs = re.findall(r'"#/components/schemas/(\w+)"', str(doc).replace("'", '"'))
    assert refs and set(refs) <= set(components)
    operation_ids = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert method in {"get", "post", "delete"}
            names = {p["name"] for p in op.get("parameters", [])}
            assert names == set(re.findall(r"{(\w+)}", path)), path
            operation_ids.append(op["operationId"])
            assert any(code.startswith("2") for code in op["responses"])
    assert len(operation_ids) == len(set(operation_ids))


def test_no_response_schema_but_the_two_secret_ones_mentions_a_secret():
    components = document()["components"]["schemas"]
    with_secret = {n for n, s in components.items() if "client_secret" in s.get("properties", {})}
    assert with_secret == {"ConnectorCreated", "SecretOut", "TokenIn"}
