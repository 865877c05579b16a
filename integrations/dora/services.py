"""Engineering events stored: each signal (integrations.signals) updates the one row of the thing it names.

The rules of an update, whatever order deliveries arrive in (retries, replays, a backfill):
- a row is created once: the insert does nothing when a concurrent one made it first, then the row is locked;
- a field a delivery leaves empty keeps what an earlier one said; when a thing began (opened, started,
  committed) is the earliest any delivery said;
- a delivery that observed an older state than the row's (`observed_at`) only fills what the row lacks: a
  replayed failure does not undo the success that followed it;
- a finished deployment or build keeps its outcome and finish against a word that is not an outcome (GitHub's
  `inactive`, a late in-progress);
- an incident that a newer delivery reports open again (reopened) is unresolved again."""

from integrations import signals as s
from integrations.dora.models import Alert, Build, Change, Deployment, DeploymentChange, Incident, Issue, QualityGate

FINISHED = (s.SUCCESS, s.FAILURE, s.CANCELLED)
EARLIEST = ("opened_at", "started_at", "authored_at", "committed_at")
OPEN = ("triggered", "open", "opened", "reopened", "acknowledged", "firing", "active", "investigating")
OUTCOME_FIELDS = ("status", "finished_at")
LIMITS = {"key": 255, "title": 300, "url": 1000, "service": 200, "environment": 100, "status": 32, "severity": 32,
          "sha": 64, "repository": 200, "pipeline": 200, "project": 200, "branch": 200, "type": 64, "assignee": 150,
          "root_cause_sha": 64, "deployment_key": 255, "pull_request": 50, "push": 100, "author": 150}


def _upsert(model, lookup: dict, fields: dict, *, observed_at=None, delivery_id=None):
    """The row `lookup` names, created if absent, then updated under its lock by the rules of the module."""
    model.objects.bulk_create([model(**lookup)], ignore_conflicts=True)
    row = model.objects.select_for_update().get(**lookup)
    older = observed_at is not None and row.observed_at is not None and observed_at < row.observed_at
    finished = model in (Deployment, Build) and row.status in FINISHED and fields.get("status") not in FINISHED
    for name, value in fields.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, str):
            value = value[:LIMITS.get(name, 1000)]
        current = getattr(row, name, None)
        if name in EARLIEST and current is not None:
            value = min(value, current)
        elif current not in (None, "", [], {}) and (older or (finished and name in OUTCOME_FIELDS)):
            continue  # the row's newer (or finished) state stands
        setattr(row, name, value)
    if model is Incident and not older and fields.get("status") in OPEN and not fields.get("resolved_at"):
        row.resolved_at = None
    if not older and observed_at is not None:
        row.observed_at = observed_at
    if delivery_id is not None:
        row.delivery_id = delivery_id
    row.save()
    return row


def signal_store(*, tenant_id: int, provider: str, signal: s.Signal, delivery_id=None, scope: str = ""):
    """Store one engineering event; answers its row. `scope` (a registered endpoint's id) keeps apart the keys
    of a provider whose ids are unique only within one tool (two Jenkins servers both have build deploy#42)."""
    data, common = signal.data, {"title": signal.title, "url": signal.url}
    kept = {"observed_at": signal.observed_at, "delivery_id": delivery_id}
    if signal.kind == s.CHANGE:
        return _upsert(Change, {"tenant_id": tenant_id, "repository": data.get("repository", "")[:200],
                                "sha": signal.key[:64]}, {
            **common, "provider": provider, "key": signal.key, "authored_at": data.get("authored_at"),
            "committed_at": data.get("committed_at"), "pull_request": data.get("pull_request"),
            "merged_at": data.get("merged_at"), "push": data.get("push"), "author": data.get("author")}, **kept)
    lookup = {"tenant_id": tenant_id, "provider": provider, "scope": scope, "key": signal.key[:255]}
    if signal.kind == s.DEPLOYMENT:
        deployment = _upsert(Deployment, lookup, {
            **common, "service": signal.service, "environment": signal.environment, "status": signal.status,
            "sha": data.get("sha"), "repository": data.get("repository"), "started_at": data.get("started_at"),
            "finished_at": data.get("finished_at")}, **kept)
        known = set(deployment.changes.values_list("sha", flat=True))
        DeploymentChange.objects.bulk_create([DeploymentChange(deployment=deployment, sha=sha[:64])
                                              for sha in data.get("shas", []) if sha[:64] not in known],
                                             ignore_conflicts=True)
        return deployment
    if signal.kind == s.INCIDENT:
        return _upsert(Incident, lookup, {
            **common, "service": signal.service, "environment": signal.environment or s.PRODUCTION,
            "status": signal.status, "severity": data.get("severity"), "opened_at": data.get("opened_at"),
            "acknowledged_at": data.get("acknowledged_at"), "resolved_at": data.get("resolved_at"),
            "root_cause_sha": data.get("root_cause_sha"), "deployment_key": data.get("deployment_key")}, **kept)
    if signal.kind == s.BUILD:
        return _upsert(Build, lookup, {
            **common, "pipeline": data.get("pipeline"), "status": signal.status, "sha": data.get("sha"),
            "repository": data.get("repository"), "duration_seconds": data.get("duration_seconds"),
            "started_at": data.get("started_at"), "finished_at": data.get("finished_at")}, **kept)
    if signal.kind == s.ALERT:
        return _upsert(Alert, lookup, {**common, "service": signal.service, "status": signal.status,
                                       "severity": data.get("severity"), "at": signal.at}, **kept)
    if signal.kind == s.ISSUE:
        return _upsert(Issue, lookup, {**common, "project": data.get("project"), "status": signal.status,
                                       "type": data.get("type"), "assignee": data.get("assignee"), "at": signal.at},
                       **kept)
    if signal.kind == s.QUALITY_GATE:
        return _upsert(QualityGate, lookup, {**common, "project": signal.service, "status": signal.status,
                                             "sha": data.get("sha"), "branch": data.get("branch"),
                                             "conditions": data.get("conditions"), "at": signal.at}, **kept)
    raise ValueError(f"unknown engineering event kind {signal.kind!r}")


def signals_store(*, tenant_id: int, provider: str, signals, delivery_id=None, scope: str = "") -> int:
    """Store a delivery's (or a backfill's) engineering events; answers how many."""
    for signal in signals:
        signal_store(tenant_id=tenant_id, provider=provider, signal=signal, delivery_id=delivery_id, scope=scope)
    return len(signals)
