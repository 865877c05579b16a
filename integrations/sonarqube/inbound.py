"""SonarQube quality gates at a tenant's registered endpoint, /webhooks/sonarqube/<endpoint id>: the body is the
webhook payload SonarQube sends when an analysis finishes, or when an issue's change turns the gate (then without
taskId): serverUrl, taskId, status, analysedAt, changedAt, revision, project {key, name, url}, branch {name, type,
isMain, url}, qualityGate {name, status OK / ERROR, conditions [...]}, properties.
https://docs.sonarsource.com/sonarqube-server/discovering/integrations/webhooks

Dedup key: taskId, else the body's hash. Event type: "analysis" (with a taskId) or "quality_gate_changed".
Engineering events: a quality gate keyed by project, branch and revision (so an issue's later change of the gate
updates its analysis's row): status OK → success, ERROR → failure, its conditions, the revision as sha, the branch,
at changedAt or analysedAt."""

from integrations import providers
from integrations import signals as s
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.sonarqube import verify
from integrations.webhooks import body_hash, first_of, json_body, payload_field


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """The analysis's quality gate verdict. Any JSON is read without error: a field of the wrong type is as if
    missing."""
    project, gate, branch = obj(payload.get("project")), obj(payload.get("qualityGate")), obj(payload.get("branch"))
    key, status = text(project.get("key")), text(gate.get("status"))
    if not key or not status:
        return []  # a failed background task has no verdict
    revision, branch_name = text(payload.get("revision")), text(branch.get("name"))
    analysis = revision or text(payload.get("analysedAt")) or delivery.dedup_key
    listed = gate.get("conditions") if isinstance(gate.get("conditions"), list) else []
    conditions = [condition for condition in listed if isinstance(condition, dict)]
    return [s.quality_gate(key=f"{key}@{branch_name}@{analysis}", project=key, status=s.outcome(status),
                           at=payload.get("changedAt") or payload.get("analysedAt"), sha=revision, branch=branch_name,
                           conditions=conditions, url=text(branch.get("url")) or text(project.get("url")))]


SONARQUBE = providers.register(WebhookProvider(
    name="sonarqube",
    title="SonarQube",
    switch="sonarqube",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(payload_field("taskId"), body_hash),
                      event_type=lambda request, payload: "analysis" if payload.get("taskId")
                      else "quality_gate_changed",
                      keep_headers=("X-SonarQube-Project",)),
        describe=lambda options: f"HMAC-SHA256 of the body in {verify.SIGNATURE_HEADER}"),
))
