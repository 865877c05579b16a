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


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """The analysis's quality gate verdict."""
    project = payload.get("project") if isinstance(payload.get("project"), dict) else {}
    gate = payload.get("qualityGate") if isinstance(payload.get("qualityGate"), dict) else {}
    if not project.get("key") or not gate.get("status"):
        return []  # a failed background task has no verdict
    branch = payload.get("branch") if isinstance(payload.get("branch"), dict) else {}
    revision = str(payload.get("revision") or "")
    analysis = revision or str(payload.get("analysedAt") or delivery.dedup_key)
    conditions = [condition for condition in gate.get("conditions") or [] if isinstance(condition, dict)]
    return [s.quality_gate(key=f"{project['key']}@{branch.get('name', '')}@{analysis}", project=project["key"],
                           status=s.outcome(gate["status"]), at=payload.get("changedAt") or payload.get("analysedAt"),
                           sha=revision, branch=branch.get("name", "") or "", conditions=conditions,
                           url=branch.get("url") or project.get("url") or "")]


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
