"""Registered endpoints of Kubernetes, Amazon ECS, Codecov, SonarQube, Jira and Sentry: a delivery carrying the
endpoint's secret the way the tool sends it is stored and becomes the engineering events it describes; a forged
one (403), one without its secret (401) and a stale Sentry one (403) store nothing; a redelivery is a duplicate."""

import hashlib
import json
import time
from datetime import UTC, datetime

import pytest

from integrations import providers
from integrations import signals as s
from integrations.models import WebhookDelivery
from tests.integrations.conftest import hub_signature, jira_issue_created, process_deliveries, sentry_signature
from tests.integrations.registered import register, send, signals_of

pytestmark = pytest.mark.django_db

SHA = "9f2c1e7d4b8a6c5e3f1a0b9c8d7e6f5a4b3c2d1e"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- what each tool sends (trimmed from the vendors' documented examples) -------------------------------------


def k8s_event(*, kind="Deployment", name="web", namespace="shop-prod", reason="ScalingReplicaSet",
              message="Scaled up replica set web-5d8b9c7f6 to 3", type_="Normal", uid="b1f4c2d0-7e3a-4c55",
              count=1, labels=None) -> dict:
    """A core/v1 Event as kubernetes-event-exporter's webhook receiver posts it (no layout)."""
    involved = {"kind": kind, "namespace": namespace, "name": name, "uid": "0a6e-41d2", "apiVersion": "apps/v1",
                "resourceVersion": "48213"}
    if labels:
        involved["labels"] = labels
    return {"metadata": {"name": f"{name}.17a8b5f0c3d2e1f0", "namespace": namespace, "uid": uid,
                         "resourceVersion": "48230", "creationTimestamp": "2026-11-02T09:00:00Z"},
            "involvedObject": involved, "reason": reason, "message": message,
            "source": {"component": "deployment-controller"}, "firstTimestamp": "2026-11-02T09:00:00Z",
            "lastTimestamp": "2026-11-02T09:04:00Z", "count": count, "type": type_, "eventTime": None,
            "reportingComponent": "", "reportingInstance": "", "clusterName": "prod-eu"}


def ecs_event(event_name="SERVICE_DEPLOYMENT_COMPLETED", *, event_id="ddca6449-b258-46c0-8653-e0e3a6EXAMPLE",
              updated_at="2026-11-02T09:12:00Z") -> dict:
    """An EventBridge "ECS Deployment State Change" event, as an API destination posts it."""
    return {"version": "0", "id": event_id, "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": "111122223333", "time": updated_at, "region": "eu-west-1",
            "resources": ["arn:aws:ecs:eu-west-1:111122223333:service/default/checkout"],
            "detail": {"eventType": "INFO" if "FAILED" not in event_name else "ERROR", "eventName": event_name,
                       "deploymentId": "ecs-svc/1234567890123456789", "updatedAt": updated_at,
                       "reason": "ECS deployment ecs-svc/1234567890123456789 completed."}}


CODECOV = {
    "repo": {"url": "https://app.codecov.io/gh/acme/shop", "service_id": "1234", "name": "shop", "private": True},
    "head": {"author": {"username": "dana", "service": "github"}, "url": f"https://app.codecov.io/gh/acme/shop/commit/{SHA}",
             "timestamp": "2026-11-02T08:30:00", "commitid": SHA, "branch": "main", "message": "Fix checkout",
             "totals": {"files": 120, "lines": 5000, "hits": 4275, "misses": 600, "partials": 125,
                        "coverage": "85.50000", "branches": 0, "methods": 0, "sessions": 1}},
    "base": {"commitid": "1" * 40, "totals": {"coverage": "86.00000"}},
    "compare": {"url": "https://app.codecov.io/gh/acme/shop/compare/x", "message": "decreased", "coverage": "-0.50",
                "notation": "-"},
    "owner": {"username": "acme", "service_id": "99", "service": "github"},
    "pull": None,
}


def sonar_payload(*, status="ERROR", task_id="AVh21JS2JepAEhwQ-b3u", changed_at=None) -> dict:
    payload = {"serverUrl": "https://sonar.acme.test", "status": "SUCCESS", "analysedAt": "2026-11-02T10:46:28+0100",
               "revision": SHA, "project": {"key": "acme:shop", "name": "Shop",
                                            "url": "https://sonar.acme.test/dashboard?id=acme%3Ashop"},
               "branch": {"name": "main", "type": "BRANCH", "isMain": True,
                          "url": "https://sonar.acme.test/dashboard?id=acme%3Ashop"},
               "qualityGate": {"name": "Sonar way", "status": status, "conditions": [
                   {"metric": "new_coverage", "operator": "LESS_THAN", "value": "62.5", "status": status,
                    "errorThreshold": "80"},
                   {"metric": "new_violations", "operator": "GREATER_THAN", "value": "0", "status": "OK",
                    "errorThreshold": "0"}]},
               "properties": {"sonar.analysis.detectedscm": "git"}}
    if task_id:
        payload["taskId"] = task_id
    if changed_at:
        payload["changedAt"] = changed_at
    return payload


JIRA_INCIDENT = {
    "timestamp": 1793700000000, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_resolved",
    "user": {"displayName": "Dana"},
    "issue": {"id": "10042", "key": "SHOP-42", "self": "https://acme.atlassian.net/rest/api/2/issue/10042",
              "fields": {"summary": "Checkout down for EU cards", "issuetype": {"name": "Outage"},
                         "project": {"key": "SHOP", "name": "Shop"}, "status": {"name": "Done"},
                         "priority": {"name": "Highest"}, "assignee": {"displayName": "Sam"},
                         "components": [{"name": "checkout"}, {"name": "payments"}],
                         "created": "2026-11-02T09:15:00.000+0000", "updated": "2026-11-02T10:05:00.000+0000",
                         "resolutiondate": "2026-11-02T10:05:00.000+0000"}}}

SENTRY_ISSUE_RESOLVED = {
    "action": "resolved", "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
    "actor": {"type": "user", "id": 1, "name": "Dana"},
    "data": {"issue": {"id": "1170820242", "shortId": "SHOP-1Q", "title": "ZeroDivisionError: division by zero",
                       "level": "error", "status": "resolved", "project": {"slug": "shop-api", "id": "1"},
                       "firstSeen": "2026-11-02T08:00:00.000000Z", "lastSeen": "2026-11-02T09:00:00.000000Z",
                       "web_url": "https://acme.sentry.io/issues/1170820242/"}}}


def sentry_metric_alert(action: str) -> dict:
    return {"action": action, "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
            "data": {"description_title": "Too many errors" if action != "resolved" else "Resolved: Too many errors",
                     "description_text": "1000 events in the last 10 minutes",
                     "web_url": "https://acme.sentry.io/alerts/rules/details/1/",
                     "metric_alert": {"id": "53", "identifier": 7, "title": "Too many errors", "status": 2,
                                      "date_started": "2026-11-02T09:00:00.000000Z",
                                      "date_detected": "2026-11-02T09:01:00.000000Z",
                                      "date_closed": "2026-11-02T09:30:00.000000Z" if action == "resolved" else None,
                                      "alert_rule": {"name": "Too many errors", "projects": ["shop-api"],
                                                     "aggregate": "count()", "threshold_type": 0}}}}


# --- how each tool carries the secret: (routing headers, the secret's headers or URL) --------------------------


def bearer(secret, raw):
    return {"Authorization": f"Bearer {secret}"}, ""


def header(name):
    return lambda secret, raw: ({name: secret}, "")


def in_url(secret, raw):
    return {}, secret


def sonar_hmac(secret, raw):
    return {"X-Sonar-Webhook-HMAC-SHA256": hub_signature(secret, raw).removeprefix("sha256=")}, ""


def jira_hmac(secret, raw):
    return {"X-Hub-Signature": hub_signature(secret, raw)}, ""


def sentry_hmac(secret, raw, *, timestamp=None):
    return {"Sentry-Hook-Timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "Sentry-Hook-Signature": sentry_signature(raw, secret)}, ""


def check_kubernetes(found):
    [deployment] = found["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status) == (
        "shop-prod/web/web-5d8b9c7f6", "web", "production", "success")
    assert (deployment.started_at, deployment.finished_at) == (at("2026-11-02T09:00:00Z"), None)


def check_ecs(found):
    [deployment] = found["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status) == (
        "ecs-svc/1234567890123456789", "checkout", "staging", "success")
    assert deployment.finished_at == at("2026-11-02T09:12:00Z") and deployment.started_at is None


def check_codecov(found):
    [gate] = found["quality_gate"]
    assert (gate.key, gate.project, gate.status, gate.sha, gate.branch) == (
        f"acme/shop@{SHA}", "acme/shop", "failure", SHA, "main")  # 85.5% is under the endpoint's 90
    assert gate.at == at("2026-11-02T08:30:00Z")
    assert gate.conditions == [{"metric": "coverage", "value": "85.50000", "errorThreshold": "90",
                                "compare": "decreased"}]


def check_sonarqube(found):
    [gate] = found["quality_gate"]
    assert (gate.key, gate.project, gate.status, gate.sha, gate.branch) == (
        f"acme:shop@main@{SHA}", "acme:shop", "failure", SHA, "main")
    assert gate.at == at("2026-11-02T09:46:28Z")
    assert [c["metric"] for c in gate.conditions] == ["new_coverage", "new_violations"]


def check_jira(found):
    [issue] = found["issue"]
    assert (issue.key, issue.status, issue.type, issue.project, issue.assignee) == (
        "SHOP-42", "Done", "Outage", "SHOP", "Sam")
    assert issue.at == at("2026-11-02T10:05:00Z") and issue.url == "https://acme.atlassian.net/browse/SHOP-42"
    [incident] = found["incident"]
    assert (incident.key, incident.service, incident.severity, incident.status, incident.environment) == (
        "SHOP-42", "checkout", "Highest", "resolved", "production")
    assert (incident.opened_at, incident.resolved_at) == (at("2026-11-02T09:15:00Z"), at("2026-11-02T10:05:00Z"))


def check_sentry(found):
    [alert] = found["alert"]
    assert (alert.key, alert.title, alert.status, alert.severity, alert.service) == (
        "issue:1170820242", "ZeroDivisionError: division by zero", "resolved", "error", "shop-api")
    assert alert.url == "https://acme.sentry.io/issues/1170820242/"


# provider: (options, body, routing headers, how the secret goes, what the tables then hold)
CASES = {
    "kubernetes": ({}, k8s_event(), {}, bearer, check_kubernetes),
    "ecs": ({"environment": "staging"}, ecs_event(), {}, header("X-Emma-Api-Key"), check_ecs),
    "codecov": ({"min_coverage": "90"}, CODECOV, {"User-Agent": "Codecov"}, in_url, check_codecov),
    "sonarqube": ({}, sonar_payload(), {"X-SonarQube-Project": "acme:shop"}, sonar_hmac, check_sonarqube),
    "jira": ({"incident_types": "Incident,Outage"}, JIRA_INCIDENT,
             {"X-Atlassian-Webhook-Identifier": "jira-delivery-1"}, jira_hmac, check_jira),
    "sentry": ({}, SENTRY_ISSUE_RESOLVED, {"Sentry-Hook-Resource": "issue", "Request-ID": "sentry-request-1"},
               sentry_hmac, check_sentry),
}


def deliver(client, endpoint, provider, secret, *, body=None, routing=None, carry=None):
    options, default_body, default_routing, default_carry, _ = CASES[provider]
    raw = json.dumps(default_body if body is None else body).encode()
    headers, url_secret = (carry or default_carry)(secret, raw)
    return send(client, endpoint, body=raw, headers={**(default_routing if routing is None else routing), **headers},
                url_secret=url_secret)


@pytest.mark.parametrize("provider", list(CASES))
def test_a_delivery_with_the_endpoints_secret_becomes_its_engineering_events(acme, client, provider):
    endpoint, secret = register(acme, provider, options=CASES[provider][0])
    assert deliver(client, endpoint, provider, secret).json() == {"status": "accepted"}
    assert WebhookDelivery.objects.get().tenant_id == acme.tenant_id
    assert process_deliveries() == ["processed"]
    CASES[provider][4](signals_of(acme))
    assert deliver(client, endpoint, provider, secret).json() == {"status": "duplicate"}
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("provider", list(CASES))
def test_a_forged_or_missing_secret_is_refused_and_stores_nothing(acme, client, provider):
    endpoint, secret = register(acme, provider, options=CASES[provider][0])
    forged = deliver(client, endpoint, provider, "not-" + secret)
    assert forged.status_code == 403 and forged.json()["error"]["details"]["reason"] in ("bad_signature", "bad_secret")
    unsigned = deliver(client, endpoint, provider, secret, carry=lambda secret, raw: ({}, ""))
    assert unsigned.status_code == 401 and unsigned.json()["error"]["details"]["reason"].startswith("missing_")
    assert not WebhookDelivery.objects.exists()


def test_a_sentry_delivery_older_than_five_minutes_is_refused(acme, client):
    endpoint, secret = register(acme, "sentry")
    stale = deliver(client, endpoint, "sentry", secret,
                    carry=lambda secret, raw: sentry_hmac(secret, raw, timestamp=int(time.time()) - 301))
    assert stale.status_code == 403 and stale.json()["error"]["details"]["reason"] == "stale_timestamp"
    assert not WebhookDelivery.objects.exists()


def test_a_sentry_replay_with_a_new_request_id_and_timestamp_is_still_a_duplicate(acme, client, webhooks):
    """Neither Request-ID nor Sentry-Hook-Timestamp is signed: a captured body resent with new ones is the same
    delivery, at a registered endpoint and at the global /webhooks/sentry alike (the dedup key: the body's hash)."""
    endpoint, secret = register(acme, "sentry")
    assert [deliver(client, endpoint, "sentry", secret, routing={"Sentry-Hook-Resource": "issue", "Request-ID": rid},
                    carry=lambda secret, raw, n=n: sentry_hmac(secret, raw, timestamp=int(time.time()) - n)
                    ).json()["status"] for n, rid in enumerate(("sentry-request-1", "sentry-request-2"))] == [
        "accepted", "duplicate"]
    assert [webhooks.sentry("issue", SENTRY_ISSUE_RESOLVED, request_id=request_id, timestamp=int(time.time()) - n
                            ).json()["status"] for n, request_id in enumerate(("g-1", "g-2"))] == [
        "accepted", "duplicate"]
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert deliveries.count() == 2 and {d.dedup_key for d in deliveries} == {
        "sha256:" + hashlib.sha256(json.dumps(SENTRY_ISSUE_RESOLVED).encode()).hexdigest()}
    assert [d.headers["Request-ID"] for d in deliveries] == ["sentry-request-1", "g-1"]


# --- what each one reads, beyond the common case -----------------------------------------------------------------


def test_kubernetes_warnings_are_alerts_and_namespaces_name_their_environment(acme, client):
    endpoint, secret = register(acme, "kubernetes", options={"namespace_environments": "shop-stg=staging"})
    backoff = k8s_event(kind="Pod", name="web-5d8b9c7f6-x2x7q", namespace="shop-stg", reason="BackOff",
                        message="Back-off restarting failed container", type_="Warning", uid="c0ffee",
                        labels={"app.kubernetes.io/name": "web"})
    for body in (k8s_event(namespace="shop-stg"), backoff, {**backoff, "count": 2},
                 k8s_event(namespace="shop-stg", uid="d0d0", message="Scaled down replica set web-7c9 to 0")):
        assert deliver(client, endpoint, "kubernetes", secret, body=body).json() == {"status": "accepted"}
    assert process_deliveries() == ["processed", "processed", "processed", "ignored"]
    found = signals_of(acme)
    [deployment] = found["deployment"]  # scaling the old replica set down is not another deployment
    assert (deployment.environment, deployment.key) == ("staging", "shop-stg/web/web-5d8b9c7f6")
    [alert] = found["alert"]  # the same warning seen twice is one alert
    assert (alert.key, alert.service, alert.status, alert.at) == (
        "shop-stg/Pod/web-5d8b9c7f6-x2x7q/BackOff", "web", "firing", at("2026-11-02T09:04:00Z"))


def test_an_autoscaler_scaling_the_same_replica_set_up_again_does_not_move_its_deployment(acme, client):
    """The rollout's scale-up at 09:00, then the autoscaler's scale-ups of that replica set at 11:00 and 12:00
    (later events, as the exporter posts them): one deployment, at 09:00."""
    endpoint, secret = register(acme, "kubernetes")
    rollout = k8s_event()
    later = [{**k8s_event(uid=f"hpa-{hour}", message=f"Scaled up replica set web-5d8b9c7f6 to {hour - 6}"),
              "firstTimestamp": f"2026-11-02T{hour}:00:00Z", "lastTimestamp": f"2026-11-02T{hour}:00:00Z"}
             for hour in (11, 12)]
    for body in (rollout, *later):
        assert deliver(client, endpoint, "kubernetes", secret, body=body).json() == {"status": "accepted"}
    assert process_deliveries() == ["processed"] * 3
    [deployment] = signals_of(acme)["deployment"]
    assert (deployment.started_at, deployment.finished_at) == (at("2026-11-02T09:00:00Z"), None)


def test_an_ecs_deployment_started_then_completed_is_one_row_with_both_times(acme, client):
    endpoint, secret = register(acme, "ecs", options={"header": "X-Api-Key"})
    started = ecs_event("SERVICE_DEPLOYMENT_IN_PROGRESS", event_id="e-1", updated_at="2026-11-02T09:00:00Z")
    assert deliver(client, endpoint, "ecs", secret, body=started, carry=header("X-Emma-Api-Key")).status_code == 401
    for body in (started, ecs_event(event_id="e-2")):
        assert deliver(client, endpoint, "ecs", secret, body=body, carry=header("X-Api-Key")).status_code == 200
    process_deliveries()
    [deployment] = signals_of(acme)["deployment"]
    assert (deployment.status, deployment.started_at, deployment.finished_at) == (
        "success", at("2026-11-02T09:00:00Z"), at("2026-11-02T09:12:00Z"))


def test_a_sonarqube_gate_changed_by_an_issue_update_updates_its_analysis(acme, client):
    endpoint, secret = register(acme, "sonarqube")
    deliver(client, endpoint, "sonarqube", secret)
    changed = sonar_payload(status="OK", task_id="", changed_at="2026-11-02T12:00:00+0100")
    assert deliver(client, endpoint, "sonarqube", secret, body=changed).json() == {"status": "accepted"}
    assert deliver(client, endpoint, "sonarqube", secret, body=changed).json() == {"status": "duplicate"}
    assert process_deliveries() == ["processed", "processed"]
    [gate] = signals_of(acme)["quality_gate"]
    assert (gate.status, gate.at) == ("success", at("2026-11-02T11:00:00Z"))


def test_a_sentry_metric_alert_fires_then_resolves_as_one_alert(acme, client):
    endpoint, secret = register(acme, "sentry")
    for number, action in enumerate(("critical", "resolved")):
        response = deliver(client, endpoint, "sentry", secret, body=sentry_metric_alert(action),
                           routing={"Sentry-Hook-Resource": "metric_alert", "Request-ID": f"r-{number}"})
        assert response.status_code == 200
        process_deliveries()
        [alert] = signals_of(acme)["alert"]
        assert (alert.key, alert.service) == ("metric_alert:53", "shop-api")
    assert (alert.status, alert.severity, alert.at) == ("resolved", "critical", at("2026-11-02T09:30:00Z"))


def test_the_global_jira_endpoint_still_verifies_with_its_setting_and_now_records_issues(acme, webhooks):
    assert webhooks.jira(jira_issue_created(), secret="wrong", tenant="acme").status_code == 403
    assert webhooks.jira(jira_issue_created(), tenant="acme").status_code == 200
    assert process_deliveries() == ["processed"]
    found = signals_of(acme)
    assert [(issue.key, issue.status) for issue in found["issue"]] == [("SHOP-7", "To Do")]
    assert found["incident"] == []  # no issue type: not an incident


# --- every provider's signals() reads any JSON without raising ---------------------------------------------------

NOW = "2026-11-02T09:00:00Z"
REPO = {"full_name": "acme/shop", "name": "shop"}
# provider: [(event type, a payload shaped as the vendor sends it)], one per branch its signals() reads
SHAPES = {
    "github": [
        ("push", {"after": SHA, "repository": REPO, "commits": [
            {"id": SHA, "timestamp": NOW, "message": "Fix\n\nbody", "url": "u", "author": {"username": "dana"}}]}),
        ("pull_request", {"action": "closed", "repository": REPO, "pull_request": {
            "merged": True, "merge_commit_sha": SHA, "number": 7, "merged_at": NOW, "title": "t", "html_url": "u"}}),
        ("deployment_status", {"repository": REPO, "deployment": {
            "id": 1, "environment": "production", "sha": SHA, "created_at": NOW, "description": "d",
            "payload": {"service": "shop"}}, "deployment_status": {"state": "success", "created_at": NOW,
                                                                   "target_url": "u", "log_url": "u"}}),
        ("deployment", {"repository": REPO, "deployment": {"id": 1, "environment": "staging", "sha": SHA}}),
        ("workflow_run", {"action": "completed", "repository": REPO, "workflow_run": {
            "id": 9, "name": "CI", "conclusion": "success", "run_started_at": NOW, "updated_at": NOW,
            "head_sha": SHA, "run_number": 4, "html_url": "u"}}),
        ("issues", {"repository": REPO, "issue": {"number": 3, "title": "t", "state": "open", "updated_at": NOW,
                                                  "assignee": {"login": "dana"}, "html_url": "u"}}),
    ],
    "gitlab": [
        ("Push Hook", {"object_kind": "push", "checkout_sha": SHA, "project": {"path_with_namespace": "acme/shop"},
                       "commits": [{"id": SHA, "timestamp": NOW, "message": "m", "url": "u",
                                    "author": {"name": "Dana"}}]}),
        ("Merge Request Hook", {"object_kind": "merge_request", "project": {"name": "shop"}, "object_attributes": {
            "action": "merge", "merge_commit_sha": SHA, "iid": 7, "merged_at": NOW, "title": "t", "url": "u"}}),
        ("Deployment Hook", {"object_kind": "deployment", "deployment_id": 15, "status": "success",
                             "status_changed_at": NOW, "commit_url": f"https://gitlab.com/-/commit/{SHA}",
                             "short_sha": SHA[:8], "environment": "prod", "environment_tier": "production",
                             "commit_title": "t", "deployable_url": "u", "project": {"name": "shop"}}),
        ("Pipeline Hook", {"object_kind": "pipeline", "object_attributes": {
            "id": 31, "iid": 3, "name": "CI", "ref": "main", "sha": SHA, "status": "failed", "created_at": NOW,
            "finished_at": NOW, "duration": 290, "url": "u"}}),
        ("Issue Hook", {"object_kind": "issue", "assignees": [{"username": "dana"}], "object_attributes": {
            "iid": 23, "title": "t", "state": "closed", "issue_type": "incident", "severity": "critical",
            "created_at": NOW, "updated_at": NOW, "closed_at": NOW, "url": "u"}}),
    ],
    "sentry": [("issue", SENTRY_ISSUE_RESOLVED), ("issue", {**SENTRY_ISSUE_RESOLVED, "action": "created"}),
               ("metric_alert", sentry_metric_alert("critical")), ("metric_alert", sentry_metric_alert("resolved"))],
    "jira": [("jira:issue_updated", {**JIRA_INCIDENT, "issue": {**JIRA_INCIDENT["issue"], "fields": {
        **JIRA_INCIDENT["issue"]["fields"], "issuetype": {"name": "Incident"}}}})],
    "circleci": [
        ("workflow-completed", {"type": "workflow-completed", "id": "e-1", "pipeline": {
            "id": "p-1", "vcs": {"revision": SHA}}, "project": {"name": "shop", "slug": "gh/acme/shop"},
            "workflow": {"id": "w-1", "name": "deploy", "status": "success", "created_at": NOW, "stopped_at": NOW,
                         "url": "u"}}),
        ("job-completed", {"type": "job-completed", "id": "e-2", "pipeline": {"id": "p-1", "vcs": {"revision": SHA}},
                           "project": {"name": "shop", "slug": "gh/acme/shop"}, "workflow": {"id": "w-1", "url": "u"},
                           "job": {"id": "j-1", "name": "deploy-prod", "status": "success", "started_at": NOW,
                                   "stopped_at": NOW}}),
    ],
    "jenkins": [("completed", {"name": "shop-deploy", "build": {
        "number": 42, "phase": "COMPLETED", "status": "SUCCESS", "timestamp": 1793527200000, "duration": 95000,
        "full_url": "u", "scm": {"url": "u", "commit": SHA}}}),
                ("started", {"name": "shop-deploy", "build": {"number": 42, "phase": "STARTED",
                                                              "timestamp": "2026-11-02T09:00:00Z"}})],
    "kubernetes": [
        ("Deployment/ScalingReplicaSet", k8s_event()),
        ("Rollout/RolloutCompleted", k8s_event(kind="Rollout", reason="RolloutCompleted",
                                               message="Rollout completed update to revision 4")),
        ("Pod/BackOff", k8s_event(kind="Pod", reason="BackOff", type_="Warning", message="Back-off",
                                  labels={"app": "shop"})),
        ("Deployment/ScalingReplicaSet", {"event": k8s_event()}),
    ],
    "pagerduty": [("incident.resolved", {"event": {
        "id": "e-1", "event_type": "incident.resolved", "occurred_at": NOW, "data": {
            "id": "P1", "type": "incident", "status": "resolved", "created_at": NOW, "title": "t", "html_url": "u",
            "service": {"summary": "shop"}, "priority": {"summary": "P1"}, "urgency": "high"}}})],
    "datadog": [
        ("query_alert_monitor", {"id": "1", "event_type": "query_alert_monitor", "date": "1793527200000",
                                 "tags": "service:shop, env:prod, incident:true", "title": "t", "link": "u",
                                 "alert": {"cycle_key": "7", "transition": "Triggered", "priority": "P2",
                                           "title": "t"}}),
        ("incident", {"id": "2", "date": NOW, "incident": {"public_id": "IR-3", "status": "resolved",
                                                           "severity": "SEV-1", "title": "t", "url": "u"}}),
    ],
    "argocd": [("sync.succeeded", {"app": "shop", "revision": SHA, "environment": "prod", "repoURL": "u",
                                   "url": "u", "operationState": {"phase": "Succeeded", "startedAt": NOW,
                                                                  "finishedAt": NOW},
                                   "destination": {"namespace": "shop"}, "health": {"status": "Healthy"}})],
    "ecs": [("SERVICE_DEPLOYMENT_COMPLETED", ecs_event())],
    "heroku": [
        ("release.update", {"resource": "release", "action": "update", "data": {
            "id": "r-1", "version": 42, "status": "succeeded", "description": "d", "app": {"name": "shop"},
            "slug": {"commit": SHA}, "created_at": NOW, "updated_at": NOW}}),
        ("build.update", {"resource": "build", "action": "update", "data": {
            "id": "b-1", "status": "failed", "app": {"name": "shop"}, "created_at": NOW, "updated_at": NOW,
            "source_blob": {"version": SHA, "version_description": "fix"}}}),
    ],
    "codecov": [("coverage", CODECOV)],
    "sonarqube": [("analysis", sonar_payload())],
    "linear": [("Issue", {"type": "Issue", "action": "update", "url": "u", "data": {
        "id": "i-1", "identifier": "ENG-42", "title": "t", "updatedAt": NOW, "state": {"name": "Done"},
        "team": {"key": "ENG"}, "assignee": {"name": "Dana"}, "url": "u"}})],
    "shortcut": [("story.update", {"changed_at": NOW, "primary_id": 1, "actions": [
        {"id": 1, "entity_type": "story", "action": "update", "name": "n", "story_type": "bug", "app_url": "u",
         "changes": {"workflow_state_id": {"new": 8, "old": 7}}}],
        "references": [{"id": 8, "entity_type": "workflow-state", "name": "In Progress"}]})],
    "standardwebhooks": [
        (f"{kind}.succeeded", {"type": f"{kind}.succeeded", "data": {
            "id": "x-1", "sha": SHA, "shas": [SHA], "service": "shop", "environment": "prod", "status": "success",
            "started_at": NOW, "finished_at": 1793707500, "duration_seconds": "12.5", "opened_at": NOW,
            "resolved_at": NOW, "committed_at": NOW, "repository": "acme/shop", "title": "t", "url": "u"}})
        for kind in ("deployment", "incident", "change", "build")],
}
# What a sender may put anywhere: nothing, the wrong container, the wrong scalar, numbers too big for their field.
WRONG = [None, [], {}, [None], [{}], {"x": []}, "", "x", 0, -1, 1.5, True, 10 ** 30, 1e308]
MALFORMED = [{}, {"x": []}, {"data": None}, {"data": [], "event": [], "object_attributes": []},
             {"build": {"number": None, "phase": []}}, {"type": ["workflow-completed"], "id": {}}]
TEXT = ("key", "title", "url", "service", "environment", "status")


def mutations(value):
    """`value` with one of its parts (a key's value or a list's item, at any depth) replaced by a wrong one."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, child in children:
        for changed in [*WRONG, *mutations(child)]:
            copy = dict(value) if isinstance(value, dict) else list(value)
            copy[name] = changed
            yield copy


def storable(name: str, value) -> bool:
    """Whether a signal's data field is what its column takes (text, a time, seconds, shas, conditions)."""
    if name == "duration_seconds":
        return isinstance(value, float)
    if name in ("shas", "conditions"):
        return all(isinstance(item, str if name == "shas" else dict) for item in value)
    return isinstance(value, (str, datetime))


def test_every_provider_with_signals_has_shapes_here():
    assert {p.name for p in providers.registered() if p.signals} == set(SHAPES)


@pytest.mark.parametrize("provider", sorted(SHAPES))
def test_signals_never_raise_on_malformed_json(provider):
    """A body that is JSON but not what the vendor documents (a list for an object, null, a number for a text, a
    number too big for a float) yields fewer engineering events, never an error, and what it yields fits the
    tables; a provider's own summary (normalise) reads it too."""
    found_provider = providers.provider(provider)
    for event_type, shape in SHAPES[provider]:
        delivery = WebhookDelivery(provider=provider, event_type=event_type, dedup_key="d-1", body=json.dumps(shape))
        assert found_provider.signals(delivery, shape), (event_type, "the shape itself says something")
        for payload in [*MALFORMED, *mutations(shape)]:
            delivery = WebhookDelivery(provider=provider, event_type=event_type, dedup_key="d-1",
                                       body=json.dumps(payload))
            try:
                found = found_provider.signals(delivery, payload)
                if found_provider.normalise:
                    found_provider.normalise(delivery)
            except Exception as exc:  # noqa: BLE001 - the assertion names the payload that broke it
                raise AssertionError(f"{provider} {event_type} {payload!r}: {exc!r}") from exc
            assert isinstance(found, list)
            for signal in found:
                assert all(isinstance(getattr(signal, name), str) for name in TEXT), (payload, signal)
                assert all(storable(name, value) for name, value in signal.data.items()), (payload, signal)


def test_a_time_beyond_a_floats_range_is_no_time():
    assert s.when(10 ** 400) is None
