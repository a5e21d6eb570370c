"""The runner's summary: human lines, then one machine-readable line for the test and the docs."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from scripts.chaos.run import Result
from scripts.chaos.suspension import WITHIN_S

SUMMARY_PREFIX = "CHAOS-SUMMARY "


def figures(result: Result) -> dict[str, Any]:
    """The headline counts; `passed` is what the exit status says."""
    a, t = result.account, result.tally
    lost, duplicates = sum(a.lost.values()), sum(a.duplicates.values())
    not_recovered = [f.target for f in result.faults if f.not_ready]
    refused = result.suspension
    suspension_ok = (
        bool(refused)
        and all(x is not None and x < WITHIN_S for x in refused)
        and all(result.suspension_heard)
        and len(result.suspension_heard) == len(refused)
    )
    passed = (
        lost == 0
        and duplicates == 0
        and a.verify_ok
        and not t.anomalies
        and not t.unresolved
        and not result.unplanned_exits
        and not not_recovered
        and all(result.self_check.values())
        and all(result.tamper.values())
        and result.broker_cap
        and suspension_ok
    )
    return {
        "operations": sum(t.operations.values()),
        "acknowledged": t.acknowledged,
        "faults": len(result.faults),
        "events": sum(a.events.values()),
        "lost": lost,
        "duplicates": duplicates,
        "explained_resends": sum(a.explained.values()),
        "anomalies": len(t.anomalies),
        "unresolved": t.unresolved,
        "verify_ok": a.verify_ok,
        "unplanned_exits": result.unplanned_exits,
        "not_recovered": not_recovered,
        "reads_recorded": len(t.access_ids),
        "dead_letters": sum(result.dead_letters.values()),
        "self_check": result.self_check,
        "tamper": result.tamper,
        "broker_cap": result.broker_cap,
        "suspension_s": refused,
        "suspension_ok": suspension_ok,
        "seconds": round(result.seconds, 1),
        "passed": passed,
    }


def lines(result: Result) -> list[str]:
    """What `make chaos` prints at the end."""
    a, t, f = result.account, result.tally, figures(result)
    ops = ", ".join(f"{k} {v}" for k, v in sorted(t.operations.items()))
    slowest = max((x.recovered_s or 0.0 for x in result.faults), default=0.0)
    statuses = Counter({k: v for k, v in t.statuses.items() if not k.startswith("2")})
    out = [
        "",
        "Carnet chaos: faults under load",
        f"  operations     {f['operations']} ({ops}); acknowledged {t.acknowledged}, "
        f"retried {t.retried}, settled by reading back {t.resolved_by_reading_back}, "
        f"unresolved {t.unresolved}",
        f"  faults         {f['faults']} ({', '.join(x.target for x in result.faults)}); "
        f"slowest recovery {slowest} s",
        f"  events         {f['events']} ("
        + ", ".join(f"{k} {v}" for k, v in a.events.items())
        + ")",
        f"  lost           {f['lost']}",
        f"  duplicates     {f['duplicates']}",
        f"  ledger verify  {'ok' if a.verify_ok else 'FAILED'}",
        f"  broker cap     {'1 MiB + 1 byte refused' if result.broker_cap else 'NOT ENFORCED'}",
        f"  suspension     refused by each booking replica after {result.suspension} s, "
        f"dropped on the event: {result.suspension_heard} "
        f"({'ok' if f['suspension_ok'] else 'FAILED'}: within {WITHIN_S:g} s, on the event)",
        f"  time           {f['seconds']} s (load {result.load_seconds:.1f} s; "
        + ", ".join(f"{k} {v} s" for k, v in result.phases.items())
        + ")",
        f"  retried answers {dict(statuses.most_common(8))}",
        "  checks:",
    ]
    for title, group in (("lost", a.lost), ("duplicate", a.duplicates)):
        out += [f"    {v:>6}  {title}: {k}" for k, v in group.items()]
    out += [f"    {v:>6}  explained: {k}" for k, v in a.explained.items()]
    out += [f"  anomaly: {x}" for x in t.anomalies[:20]]
    out += [f"  verify: {x}" for x in a.verify_findings]
    out += [f"  unledgered: {x}" for x in result.trail]
    if result.dead_letters:
        out.append(f"  dead-lettered (waiting in DLQs): {result.dead_letters}")
    if result.self_check:
        missed = [k for k, v in result.self_check.items() if not v]
        out.append(
            f"  self-check: {len(result.self_check) - len(missed)}/{len(result.self_check)} "
            "sabotages noticed" + (f"; MISSED {', '.join(missed)}" if missed else "")
        )
    if result.tamper:
        missed = [k for k, v in result.tamper.items() if not v]
        out.append(
            f"  tamper table: {len(result.tamper) - len(missed)}/{len(result.tamper)} named by"
            " verify at their first bad seq" + (f"; MISSED {', '.join(missed)}" if missed else "")
        )
    if result.unplanned_exits:
        out.append(f"  exited on their own: {', '.join(result.unplanned_exits)}")
    out.append("PASSED" if f["passed"] else "FAILED")
    out.append(SUMMARY_PREFIX + json.dumps(f, sort_keys=True))
    return out
