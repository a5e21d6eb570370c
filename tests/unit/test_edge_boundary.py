"""nameko and eventlet stay at the edge (docs/adr/0001): the rest could move to another runtime."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDGE_ONLY = {"nameko", "eventlet", "kombu", "werkzeug"}


def is_edge(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return rel.startswith("services/common/nameko_ext/") or rel.endswith("/service.py")


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_edge_imports_nameko_or_eventlet():
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_roots(p) & EDGE_ONLY)
        for folder in ("services", "contracts")
        for p in (ROOT / folder).rglob("*.py")
        if not is_edge(p) and imported_roots(p) & EDGE_ONLY
    }
    assert offenders == {}


def test_contracts_never_import_a_service():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "contracts").rglob("*.py")
        if "services" in imported_roots(p)
    ]
    assert offenders == []


def test_services_never_import_each_other():
    names = ("identity", "booking", "notification", "audit")
    offenders = []
    for svc in names:
        for p in (ROOT / "services" / svc).rglob("*.py"):
            tree = ast.parse(p.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    crosses = parts[0] == "services" and len(parts) > 1 and parts[1] in names
                    if crosses and parts[1] != svc:
                        offenders.append(f"{p.relative_to(ROOT)} -> {node.module}")
    assert offenders == []
