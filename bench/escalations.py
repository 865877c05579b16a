"""Escalation deadlines on the real stack: 1,000 escalated tasks whose deadlines are spread over a
minute, timed out by beat's sweep (every 5 s) through a worker. Each must fire exactly once (one
`escalation.expired` audit event, its task expired once); lateness is the database's decided_at minus
the deadline."""

from __future__ import annotations

import time
import uuid

from bench.tasks import FINAL, EmmaClient, _stats_ms, _wait, percentile


def run(report: dict, emma: EmmaClient, *, escalations: int, spread_seconds: float, alive=None) -> None:
    tag = f"bench-{uuid.uuid4().hex[:8]}-deadlines"
    with emma.http() as client:
        for first in range(0, escalations, 100):
            response = client.post("/api/tasks/batch", json={"tasks": [
                # Over the cost threshold (10): escalated. diagnostic.echo has a rule that allows it here.
                {"task_type": "diagnostic.sleep", "description": tag, "parameters": {"seconds": 0},
                 "estimated_cost": "50"} for n in range(min(100, escalations - first))]})
            if response.status_code != 202 or {t["decision"] for t in response.json()["tasks"]} != {"escalate"}:
                raise RuntimeError(f"the deadline tasks were not all escalated: {response.text[:300]}")
    # Deadlines from 5 s to 5 s + spread from now, evenly, in the database's own clock.
    emma.db.execute(
        """UPDATE governance_escalation e SET deadline = now() + interval '5 seconds'
                  + (ranked.n * %s) * interval '1 second'
           FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS n FROM governance_escalation
                 WHERE summary = %s AND status = 'open') ranked
           WHERE e.id = ranked.id""", [spread_seconds / escalations, tag])
    done, _ = _wait(lambda: sum(emma.counts(tag).get(s, 0) for s in FINAL) >= escalations,
                    timeout=spread_seconds + 120, interval=0.5, alive=alive)
    time.sleep(1)
    lateness = [float(row[0]) for row in emma.db.execute(
        "SELECT extract(epoch FROM decided_at - deadline) * 1000 FROM governance_escalation "
        "WHERE summary = %s AND status = 'expired'", [tag]).fetchall()]
    fired = emma.db.execute(
        """SELECT count(*), count(DISTINCT a.object_id), max(per.n)
           FROM governance_auditevent a
           JOIN (SELECT object_id, count(*) AS n FROM governance_auditevent WHERE action = 'escalation.expired'
                 GROUP BY object_id) per ON per.object_id = a.object_id
           WHERE a.action = 'escalation.expired'
             AND a.object_id IN (SELECT id::text FROM governance_escalation WHERE summary = %s)""", [tag]).fetchone()
    expired_events = emma.db.execute(
        """SELECT count(*) FROM emma_taskevent te JOIN emma_agenttask t ON t.id = te.task_id
           WHERE t.description = %s AND te.to_status = 'expired'""", [tag]).fetchone()[0]
    stats = _stats_ms(lateness)
    stats["p99_ms"] = None if not lateness else round(percentile(lateness, 99), 1)
    report["deadlines"] = {
        "escalations": escalations, "spread_seconds": spread_seconds, "all_final": bool(done),
        "expired": len(lateness), "audit_events": fired[0], "escalations_fired": fired[1],
        "most_events_for_one": fired[2], "task_expiries": expired_events, "lateness": stats,
    }
