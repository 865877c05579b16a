"""Engineering events stored: each signal (integrations.signals) updates the one row of the thing it names."""

from integrations import signals as s
from integrations.dora.models import Alert, Build, Change, Deployment, DeploymentChange, Incident, Issue, QualityGate

FINISHED = (s.SUCCESS, s.FAILURE, s.CANCELLED)
# When a thing began is the earliest any delivery said: a provider that knows only "seen now" (an update of an
# open incident) cannot move it later.
EARLIEST = ("opened_at", "started_at", "authored_at", "committed_at")


def _upsert(model, lookup: dict, fields: dict, *, delivery_id=None):
    """The row `lookup` names, created or updated with the fields a signal gives (an empty one keeps what an
    earlier delivery said). A finished deployment or build is not taken back to in-progress by a late delivery."""
    row = model.objects.select_for_update().filter(**lookup).first() or model(**lookup)
    status = fields.get("status")
    if status == s.IN_PROGRESS and getattr(row, "status", "") in FINISHED and model in (Deployment, Build):
        fields = {**fields, "status": row.status}
    for name, value in fields.items():
        if value in (None, "", [], {}):
            continue
        if name in EARLIEST and getattr(row, name, None) is not None:
            value = min(value, getattr(row, name))
        setattr(row, name, value)
    if delivery_id is not None:
        row.delivery_id = delivery_id
    row.save()
    return row


def signal_store(*, tenant_id: int, provider: str, signal: s.Signal, delivery_id=None):
    """Store one engineering event; answers its row."""
    data, common = signal.data, {"title": signal.title, "url": signal.url}
    if signal.kind == s.CHANGE:
        return _upsert(Change, {"tenant_id": tenant_id, "repository": data.get("repository", "")[:200],
                                "sha": signal.key[:64]}, {
            **common, "provider": provider, "key": signal.key, "authored_at": data.get("authored_at"),
            "committed_at": data.get("committed_at"), "pull_request": data.get("pull_request", "")[:50],
            "merged_at": data.get("merged_at"), "push": data.get("push", "")[:100],
            "author": data.get("author", "")[:150]}, delivery_id=delivery_id)
    lookup = {"tenant_id": tenant_id, "provider": provider, "key": signal.key[:255]}
    if signal.kind == s.DEPLOYMENT:
        deployment = _upsert(Deployment, lookup, {
            **common, "service": signal.service[:200], "environment": signal.environment,
            "status": signal.status[:32], "sha": data.get("sha", "")[:64], "repository": data.get("repository", "")[:200],
            "started_at": data.get("started_at"), "finished_at": data.get("finished_at")}, delivery_id=delivery_id)
        known = set(deployment.changes.values_list("sha", flat=True))
        DeploymentChange.objects.bulk_create([DeploymentChange(deployment=deployment, sha=sha[:64])
                                              for sha in data.get("shas", []) if sha[:64] not in known],
                                             ignore_conflicts=True)
        return deployment
    if signal.kind == s.INCIDENT:
        return _upsert(Incident, lookup, {
            **common, "service": signal.service[:200], "environment": signal.environment or s.PRODUCTION,
            "status": signal.status[:32], "severity": data.get("severity", "")[:32],
            "opened_at": data.get("opened_at"), "acknowledged_at": data.get("acknowledged_at"),
            "resolved_at": data.get("resolved_at"), "root_cause_sha": data.get("root_cause_sha", "")[:64],
            "deployment_key": data.get("deployment_key", "")[:255]}, delivery_id=delivery_id)
    if signal.kind == s.BUILD:
        return _upsert(Build, lookup, {
            **common, "pipeline": data.get("pipeline", "")[:200], "status": signal.status[:32],
            "sha": data.get("sha", "")[:64], "repository": data.get("repository", "")[:200],
            "duration_seconds": data.get("duration_seconds"), "started_at": data.get("started_at"),
            "finished_at": data.get("finished_at")}, delivery_id=delivery_id)
    if signal.kind == s.ALERT:
        return _upsert(Alert, lookup, {**common, "service": signal.service[:200], "status": signal.status[:32],
                                       "severity": data.get("severity", "")[:32], "at": signal.at},
                       delivery_id=delivery_id)
    if signal.kind == s.ISSUE:
        return _upsert(Issue, lookup, {**common, "project": data.get("project", "")[:200],
                                       "status": signal.status[:64], "type": data.get("type", "")[:64],
                                       "assignee": data.get("assignee", "")[:150], "at": signal.at},
                       delivery_id=delivery_id)
    if signal.kind == s.QUALITY_GATE:
        return _upsert(QualityGate, lookup, {**common, "project": signal.service[:200], "status": signal.status[:32],
                                             "sha": data.get("sha", "")[:64], "branch": data.get("branch", "")[:200],
                                             "conditions": data.get("conditions"), "at": signal.at},
                       delivery_id=delivery_id)
    raise ValueError(f"unknown engineering event kind {signal.kind!r}")


def signals_store(*, tenant_id: int, provider: str, signals, delivery_id=None) -> int:
    """Store a delivery's (or a backfill's) engineering events; answers how many."""
    for signal in signals:
        signal_store(tenant_id=tenant_id, provider=provider, signal=signal, delivery_id=delivery_id)
    return len(signals)
