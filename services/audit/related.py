"""Related activity not in scope: who else acted from the subjects' addresses or software.

A second connector run by the same attacker shares its address or its user agent; an
investigator who names one should see the other. In the window, every record outside the
scope that came from an address the scope's records came from (or an address subject), or with
a user agent they sent, names a related principal (a refused token without principal is named
by its fingerprint). Each is reported with all of its activity in the window that the scope
leaves out (what adding it as a subject would add), and the suggested subject to add. Nothing
here is counted in the affected set.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from services.audit.investigation import Evidence
from services.audit.ledger import Connection
from services.audit.subjects import describe, label

LIMIT = 50
_COLUMNS = """r.seq, r.principal_kind, r.principal_id, r.connector_id, r.token_fingerprint,
       r.network_address, r.user_agent, r.outcome, r.occurred_at"""
_WINDOW = "r.occurred_at >= %(start)s AND r.occurred_at < %(end)s"
_SHARING = f"""
SELECT {_COLUMNS} FROM audit.access_requests r
 WHERE {_WINDOW} AND (r.network_address = ANY(%(addresses)s) OR r.user_agent = ANY(%(agents)s))
   AND NOT coalesce({{scope}}, false)
"""
_THEIRS = f"""
SELECT {_COLUMNS} FROM audit.access_requests r
 WHERE {_WINDOW} AND NOT coalesce({{scope}}, false)
   AND (r.principal_id = ANY(%(principals)s)
        OR (r.principal_id IS NULL AND r.token_fingerprint = ANY(%(fingerprints)s)))
"""
_RETURNED = "SELECT seq, appointment_id FROM audit.access_entries WHERE seq = ANY(%s)"


def _key(row: dict[str, Any]) -> tuple[str, str]:
    """Who a record names: its principal, else its token's fingerprint, else its address."""
    if row["principal_id"] is not None:
        return ("principal", str(row["principal_id"]))
    if row["token_fingerprint"]:
        return ("token", row["token_fingerprint"])
    return ("address", row["network_address"])


def related(conn: Connection, evidence: Evidence) -> dict[str, Any]:
    """Principals outside the scope sharing its addresses or user agents, with their counts."""
    addresses = sorted(
        {r["network_address"] for r in evidence.requests if r["network_address"]}
        | set(evidence.scope.addresses)
    )
    agents = sorted({r["user_agent"] for r in evidence.requests if r["user_agent"]})
    params = {
        "start": evidence.start,
        "end": evidence.end,
        "addresses": addresses,
        "agents": agents,
        **evidence.scope.params(),
    }
    where = evidence.scope.where("r")
    with conn.cursor(row_factory=dict_row) as cur:
        sharing = cur.execute(_SHARING.format(scope=where), params).fetchall()
        shared: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        for row in sharing:
            by_address, by_agent = shared.setdefault(_key(row), (set(), set()))
            if row["network_address"] in addresses:
                by_address.add(row["network_address"])
            if row["user_agent"] in agents:
                by_agent.add(row["user_agent"])
        params["principals"] = [v for k, v in shared if k == "principal"]
        params["fingerprints"] = [v for k, v in shared if k == "token"]
        theirs = cur.execute(_THEIRS.format(scope=where), params).fetchall()
        rows = {r["seq"]: r for r in (*sharing, *theirs)}
        returned = cur.execute(_RETURNED, (list(rows),)).fetchall() if rows else []
    appointments: dict[int, set[Any]] = {}
    for r in returned:
        appointments.setdefault(r["seq"], set()).add(r["appointment_id"])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows.values():
        if _key(row) in shared:
            groups.setdefault(_key(row), []).append(row)
    out = [_line(key, group, shared[key], appointments) for key, group in groups.items()]
    known = describe(conn, [p["principal_id"] for p in out if p["principal_id"]])
    for p in out:  # a connector's name and vendor: a second one of the same vendor stands out
        kind, name, vendor = known.get(p["principal_id"] or "", (p["principal_kind"], None, None))
        p["label"] = label(kind, p["value"], name, vendor)
    out.sort(key=lambda x: (not x["shared_addresses"], -x["requests"], x["value"]))
    return {"count": len(out), "truncated": len(out) > LIMIT, "principals": out[:LIMIT]}


def _line(
    key: tuple[str, str],
    rows: list[dict[str, Any]],
    shared: tuple[set[str], set[str]],
    appointments: dict[int, set[Any]],
) -> dict[str, Any]:
    """One related principal: its activity outside the scope, and what it shared with it."""
    first = rows[0]
    served = sum(1 for r in rows if r["outcome"] == "success")
    kind, value = key
    addresses = sorted({r["network_address"] for r in rows if r["network_address"]})
    # What to add to the incident to bring this activity in scope: a token without principal
    # is only reachable by the address it came from.
    if kind == "principal":
        suggest = {"kind": "connector" if first["connector_id"] else "principal", "value": value}
    else:
        suggest = {"kind": "address", "value": (sorted(shared[0]) or addresses)[0]}
    return {
        "principal_kind": first["principal_kind"],
        "principal_id": value if kind == "principal" else None,
        "connector_id": str(first["connector_id"]) if first["connector_id"] else None,
        "token_fingerprint": value if kind == "token" else None,
        "value": value,
        "requests": len(rows),
        "served_requests": served,
        "denied_requests": len(rows) - served,
        "appointment_count": len({a for r in rows for a in appointments.get(r["seq"], ())}),
        "first_access_at": min(r["occurred_at"] for r in rows).isoformat(),
        "last_access_at": max(r["occurred_at"] for r in rows).isoformat(),
        "network_addresses": addresses,
        "shared_addresses": sorted(shared[0]),
        "shared_user_agents": sorted(shared[1]),
        "suggested_subject": suggest,
    }
