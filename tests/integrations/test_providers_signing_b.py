"""PagerDuty, Datadog, Jenkins, CircleCI and Argo CD on a tenant's registered endpoint: each verified the way its
vendor can (PagerDuty and CircleCI sign the body; the others carry the endpoint's secret in a header or the URL),
stored once per delivery id, and read into the engineering events the metrics use."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from integrations.models import WebhookDelivery
from tests.integrations.conftest import process_deliveries
from tests.integrations.registered import register, send, signals_of

pytestmark = pytest.mark.django_db

SHA = "9f3c2b1a" * 5


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def hex_hmac(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def raw(payload: dict) -> bytes:
    return json.dumps(payload).encode()


# --- payloads, as the vendors document them (trimmed) ---------------------------------------------------------


def pagerduty_event(event_type: str, *, event_id: str, occurred_at: str, status: str) -> dict:
    return {"event": {
        "id": event_id, "event_type": event_type, "resource_type": "incident", "occurred_at": occurred_at,
        "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Tenex Engineer"}, "client": None,
        "data": {"id": "PGR0VU2", "type": "incident", "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                 "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "number": 2, "status": status,
                 "incident_key": "d3640fbd41094207a1c11e58e46b1662", "created_at": "2026-11-02T10:00:00Z",
                 "title": "Checkout is failing",
                 "service": {"id": "PF9KMXH", "summary": "shop", "type": "service_reference",
                             "html_url": "https://acme.pagerduty.com/services/PF9KMXH"},
                 "priority": {"id": "PSO75BM", "summary": "P1", "type": "priority_reference"},
                 "urgency": "high", "conference_bridge": None, "resolve_reason": None}}}


def datadog_alert(transition: str, *, event_id: str, date_ms: int, tags: str = "monitor, service:shop, env:prod",
                  ) -> dict:
    """The template Emma's docstring asks the tenant to paste, as Datadog fills it for a monitor."""
    tagged = dict(tag.strip().split(":", 1) for tag in tags.split(",") if ":" in tag)
    return {"id": event_id, "event_type": "query_alert_monitor", "title": f"[{transition}] Checkout errors",
            "date": str(date_ms), "last_updated": str(date_ms),
            "link": "https://app.datadoghq.com/event/jump_to?event_id=" + event_id, "tags": tags,
            "service": tagged.get("service", ""), "env": tagged.get("env", ""),
            "alert": {"id": "1234", "cycle_key": "7162954374939447283", "aggregate_key": "9bd4ac313a4d1e8f",
                      "transition": transition, "type": "error" if transition == "Triggered" else "success",
                      "title": f"[{transition} on {{service:shop}}] Checkout errors", "priority": "P2",
                      "scope": "service:shop"},
            "incident": {"public_id": "", "uuid": "", "title": "",
                         "status": "", "severity": "", "url": ""}}


def jenkins_build(phase: str, *, name: str = "shop-deploy", number: int = 42, status: str | None = "SUCCESS",
                  timestamp_ms: int = 1793527200000, duration_ms: int = 95000) -> dict:
    build = {"full_url": f"https://ci.acme.test/job/{name}/{number}/", "number": number, "queue_id": 7,
             "phase": phase, "url": f"job/{name}/{number}/", "timestamp": timestamp_ms, "duration": duration_ms,
             "scm": {"url": "https://github.com/acme/shop.git", "branch": "origin/main", "commit": SHA},
             "log": "", "artifacts": {}}
    if status:
        build["status"] = status
    return {"name": name, "display_name": name, "url": f"job/{name}/", "build": build}


def circleci_workflow(*, event_id: str = "3888f21b-eaa7-38e3-8f3d-75a63bba8895", name: str = "build-test-deploy",
                      status: str = "success", happened_at: str = "2026-11-02T12:05:00.000Z") -> dict:
    return {"type": "workflow-completed", "id": event_id, "happened_at": happened_at,
            "webhook": {"id": "cf8c4fdd-0587-4da1-b4ca-4846e9640af9", "name": "Emma"},
            "workflow": {"id": "fda08377-fe7e-46b1-8992-3a7aaecac9c3", "name": name,
                         "created_at": "2026-11-02T12:00:00.000Z", "stopped_at": "2026-11-02T12:05:00.000Z",
                         "url": "https://app.circleci.com/pipelines/github/acme/shop/130/workflows/fda08377",
                         "status": status},
            "pipeline": {"id": "1285fe1d-d3a6-44fc-8886-8979558254c4", "number": 130,
                         "created_at": "2026-11-02T11:59:50.000Z", "trigger": {"type": "webhook"},
                         "vcs": {"provider_name": "github", "origin_repository_url": "https://github.com/acme/shop",
                                 "target_repository_url": "https://github.com/acme/shop", "revision": SHA,
                                 "branch": "main",
                                 "commit": {"subject": "Fix checkout", "authored_at": "2026-11-02T11:50:00Z"}}},
            "project": {"id": "84996744-a854-4f5e-aea3-04e2851dc1d2", "name": "shop", "slug": "github/acme/shop"},
            "organization": {"id": "f22b6566-597d-46d5-ba74-99ef5bb3d85c", "name": "acme"}}


def circleci_job(*, name: str, status: str = "success") -> dict:
    payload = circleci_workflow(event_id="8bd26246-0c86-4b9c-9e7f-2b8b3d7a3e5f")
    payload["type"] = "job-completed"
    payload["job"] = {"id": "3e8b7f3b-2a3a-4b5e-9e0e-6a7b7c1d2e3f", "name": name, "number": 531,
                      "started_at": "2026-11-02T12:03:00.000Z", "stopped_at": "2026-11-02T12:04:30.000Z",
                      "status": status}
    return payload


def argocd_sync(phase: str, *, started_at: str = "2026-11-02T13:00:00Z", finished_at: str = "",
                environment: str = "<no value>") -> dict:
    """The template Emma's docstring asks the tenant to configure, as Argo CD renders it."""
    return {"app": "shop", "project": "default", "environment": environment, "revision": SHA,
            "sync": {"status": "Synced" if phase == "Succeeded" else "OutOfSync"},
            "health": {"status": "Healthy" if phase == "Succeeded" else "Progressing"},
            "operationState": {"phase": phase, "startedAt": started_at,
                               "finishedAt": finished_at or "<no value>", "message": "successfully synced"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "repoURL": "https://github.com/acme/shop-deploy.git",
            "url": "https://argocd.acme.test/applications/shop"}


# --- how each vendor proves a delivery is theirs ---------------------------------------------------------------


def pagerduty_signed(secret, body):
    return {"X-PagerDuty-Signature": f"v1={hex_hmac(secret, body)}"}


def circleci_signed(secret, body):
    return {"circleci-signature": f"v1={hex_hmac(secret, body)}", "circleci-event-type": "workflow-completed"}


def secret_header(secret, body):
    return {"X-Emma-Webhook-Secret": secret}


def jenkins_bearer(secret, body):
    return {"Authorization": f"Bearer {secret}"}


PROVIDERS = {
    "pagerduty": (lambda: pagerduty_event("incident.triggered", event_id="01DEN1HNLBC1TU6ZDGVH4WJ4ZY",
                                          occurred_at="2026-11-02T10:00:05Z", status="triggered"),
                  pagerduty_signed, "incident"),
    "circleci": (circleci_workflow, circleci_signed, "build"),
    "datadog": (lambda: datadog_alert("Triggered", event_id="6841200000000000001", date_ms=1793527200000),
                secret_header, "alert"),
    "jenkins": (lambda: jenkins_build("COMPLETED"), jenkins_bearer, "build"),
    "argocd": (lambda: argocd_sync("Succeeded", finished_at="2026-11-02T13:02:00Z"), secret_header, "deployment"),
}
SIGNING, TOKEN = ("pagerduty", "circleci"), ("datadog", "jenkins", "argocd")


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_verified_delivery_is_stored_once_and_feeds_the_tenants_tables(provider, acme, client):
    payload, prove, kind = PROVIDERS[provider]
    endpoint, secret = register(acme, provider)
    body = raw(payload())
    assert send(client, endpoint, body=body, headers=prove(secret, body)).json() == {"status": "accepted"}
    assert send(client, endpoint, body=body, headers=prove(secret, body)).json() == {"status": "duplicate"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.tenant_id, delivery.endpoint_id) == (provider, acme.tenant_id, endpoint.pk)
    assert process_deliveries() == ["processed"]
    assert len(signals_of(acme)[kind]) == 1


@pytest.mark.parametrize("provider", SIGNING)
def test_a_forged_or_missing_signature_stores_nothing(provider, acme, client):
    payload, prove, _ = PROVIDERS[provider]
    endpoint, secret = register(acme, provider)
    body = raw(payload())
    forged = send(client, endpoint, body=body, headers=prove("not-the-secret", body))
    assert (forged.status_code, forged.json()["error"]["details"]["reason"]) == (403, "bad_signature")
    tampered = send(client, endpoint, body=body.replace(b"shop", b"shoq"), headers=prove(secret, body))
    assert tampered.status_code == 403
    unsigned = send(client, endpoint, body=body)
    assert (unsigned.status_code, unsigned.json()["error"]["details"]["reason"]) == (401, "missing_signature")
    # The secret itself is no signature: a provider that signs never takes it in the URL.
    assert send(client, endpoint, body=body, url_secret=secret).status_code == 401
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("provider", TOKEN)
def test_a_provider_that_cannot_sign_needs_the_secret_in_its_header_or_url(provider, acme, client):
    payload, prove, _ = PROVIDERS[provider]
    endpoint, secret = register(acme, provider)
    body = raw(payload())
    wrong = send(client, endpoint, body=body, headers=prove("not-the-secret", body))
    assert (wrong.status_code, wrong.json()["error"]["details"]["reason"]) == (403, "bad_secret")
    assert send(client, endpoint, body=body, url_secret="not-the-secret").status_code == 403
    missing = send(client, endpoint, body=body)
    assert (missing.status_code, missing.json()["error"]["details"]["reason"]) == (401, "missing_secret")
    assert not WebhookDelivery.objects.exists()
    assert send(client, endpoint, body=body, url_secret=secret).json() == {"status": "accepted"}
    assert send(client, endpoint, body=body, headers=prove(secret, body)).json() == {"status": "duplicate"}


# --- PagerDuty -----------------------------------------------------------------------------------------------


def test_pagerduty_incident_is_opened_acknowledged_and_resolved_from_its_events(acme, client):
    endpoint, secret = register(acme, "pagerduty")
    events = [("incident.triggered", "ev-1", "2026-11-02T10:00:05Z", "triggered"),
              ("incident.acknowledged", "ev-2", "2026-11-02T10:04:00Z", "acknowledged"),
              ("incident.resolved", "ev-3", "2026-11-02T10:45:00Z", "resolved")]
    for number, (event_type, event_id, occurred_at, status) in enumerate(events):
        body = raw(pagerduty_event(event_type, event_id=event_id, occurred_at=occurred_at, status=status))
        # The second one arrives while PagerDuty rotates its secret: two signatures, the old one first.
        signature = f"v1={hex_hmac('the-old-secret', body)},v1={hex_hmac(secret, body)}" if number == 1 \
            else pagerduty_signed(secret, body)["X-PagerDuty-Signature"]
        response = send(client, endpoint, body=body, headers={"X-PagerDuty-Signature": signature})
        assert response.json() == {"status": "accepted"}
    annotated = {"event": {"id": "ev-4", "event_type": "incident.annotated", "occurred_at": "2026-11-02T11:00:00Z",
                           "data": {"type": "incident_note", "id": "PNOTE1", "content": "root cause: config",
                                    "incident": {"id": "PGR0VU2", "type": "incident_reference"}}}}
    send(client, endpoint, body=raw(annotated), headers=pagerduty_signed(secret, raw(annotated)))
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == [
        "incident.acknowledged", "incident.annotated", "incident.resolved", "incident.triggered"]
    assert process_deliveries().count("processed") == 3
    [incident] = signals_of(acme)["incident"]
    assert (incident.key, incident.service, incident.environment, incident.severity, incident.status) == (
        "PGR0VU2", "shop", "production", "P1", "resolved")
    assert (incident.opened_at, incident.acknowledged_at, incident.resolved_at) == (
        at("2026-11-02T10:00:00Z"), at("2026-11-02T10:04:00Z"), at("2026-11-02T10:45:00Z"))
    assert incident.url == "https://acme.pagerduty.com/incidents/PGR0VU2"


def test_pagerduty_incident_reopened_is_open_again(acme, client):
    """incident.reopened: the incident is triggered again, whatever status the event's copy of it shows."""
    endpoint, secret = register(acme, "pagerduty")
    for event_type, event_id, occurred_at, status in (
            ("incident.resolved", "ev-1", "2026-11-02T10:45:00Z", "resolved"),
            ("incident.reopened", "ev-2", "2026-11-02T11:00:00Z", "")):
        body = raw(pagerduty_event(event_type, event_id=event_id, occurred_at=occurred_at, status=status))
        assert send(client, endpoint, body=body, headers=pagerduty_signed(secret, body)).status_code == 200
    assert process_deliveries() == ["processed", "processed"]
    [incident] = signals_of(acme)["incident"]
    assert incident.status == "triggered"


# --- Datadog -------------------------------------------------------------------------------------------------


def test_datadog_monitor_alerts_and_a_monitor_tagged_incident_opens_and_resolves_one(acme, client):
    endpoint, secret = register(acme, "datadog", options={"header": "X-Datadog-Token"})
    tags = "monitor, incident, service:shop, env:prod"
    triggered = raw(datadog_alert("Triggered", event_id="100", date_ms=1793527200000, tags=tags))
    recovered = raw(datadog_alert("Recovered", event_id="101", date_ms=1793529000000, tags=tags))
    # The header the endpoint names, not the default one.
    assert send(client, endpoint, body=triggered, headers={"X-Emma-Webhook-Secret": secret}).status_code == 401
    assert send(client, endpoint, body=triggered, headers={"X-Datadog-Token": secret}).status_code == 200
    assert send(client, endpoint, body=recovered, headers={"X-Datadog-Token": secret}).status_code == 200
    assert set(WebhookDelivery.objects.values_list("dedup_key", flat=True)) == {"100", "101"}
    process_deliveries()
    [alert] = signals_of(acme)["alert"]
    assert (alert.key, alert.status, alert.service, alert.severity) == ("7162954374939447283", "resolved", "shop", "P2")
    [incident] = signals_of(acme)["incident"]
    assert (incident.service, incident.environment, incident.status) == ("shop", "production", "resolved")
    assert (incident.opened_at, incident.resolved_at) == (
        datetime.fromtimestamp(1793527200, tz=UTC), datetime.fromtimestamp(1793529000, tz=UTC))


def test_datadog_incident_notification_and_a_body_without_id_deduplicated_by_its_hash(acme, client):
    endpoint, secret = register(acme, "datadog")
    incident = {"event_type": "incident", "title": "Checkout down", "date": "1793527200000",
                "last_updated": "1793530800000", "tags": "service:shop, env:staging", "service": "shop",
                "env": "staging", "alert": {},
                "incident": {"public_id": "17", "uuid": "01c03111-172a-50c7-8df3-d61e64b0e74b",
                             "title": "Checkout down", "status": "resolved", "severity": "SEV-2",
                             "url": "https://app.datadoghq.com/incidents/17"}}
    body = raw(incident)
    assert send(client, endpoint, body=body, headers=secret_header(secret, body)).json() == {"status": "accepted"}
    assert send(client, endpoint, body=body, headers=secret_header(secret, body)).json() == {"status": "duplicate"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.dedup_key.startswith("sha256:"), delivery.event_type) == (True, "incident")
    process_deliveries()
    [row] = signals_of(acme)["incident"]
    assert (row.key, row.environment, row.severity, row.status, row.opened_at) == (
        "17", "staging", "SEV-2", "resolved", None)
    assert row.resolved_at == datetime.fromtimestamp(1793530800, tz=UTC)
    assert not signals_of(acme)["alert"]


# --- Jenkins -------------------------------------------------------------------------------------------------


def test_jenkins_deploy_job_is_a_build_and_a_deployment_other_jobs_only_builds(acme, client):
    endpoint, secret = register(acme, "jenkins", options={"environment": "staging", "service": "shop"})
    started = jenkins_build("STARTED", status=None, timestamp_ms=1793527105000, duration_ms=0)
    completed = jenkins_build("COMPLETED", timestamp_ms=1793527200000, duration_ms=95000)
    tests = jenkins_build("COMPLETED", name="shop-tests", number=7, status="UNSTABLE")
    for payload, headers in ((started, {"X-Jenkins-Token": secret}), (completed, jenkins_bearer(secret, b"")),
                             (tests, jenkins_bearer(secret, b""))):
        assert send(client, endpoint, body=raw(payload), headers=headers).json() == {"status": "accepted"}
    assert set(WebhookDelivery.objects.values_list("dedup_key", "event_type")) == {
        ("shop-deploy#42:STARTED", "started"), ("shop-deploy#42:COMPLETED", "completed"),
        ("shop-tests#7:COMPLETED", "completed")}
    process_deliveries()
    builds = {build.key: build for build in signals_of(acme)["build"]}
    assert (builds["shop-deploy#42"].status, builds["shop-deploy#42"].duration_seconds,
            builds["shop-deploy#42"].sha) == ("success", 95.0, SHA)
    assert builds["shop-tests#7"].status == "failure"
    [deployment] = signals_of(acme)["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        "shop-deploy#42", "shop", "staging", "success", SHA)
    assert (deployment.started_at, deployment.finished_at) == (
        datetime.fromtimestamp(1793527105, tz=UTC), datetime.fromtimestamp(1793527200, tz=UTC))
    assert deployment.url == "https://ci.acme.test/job/shop-deploy/42/"


# --- CircleCI ------------------------------------------------------------------------------------------------


def test_circleci_a_deploy_workflow_and_its_deploy_job_are_one_deployment_of_their_pipeline(acme, client):
    """The job finishes, then its workflow: both name the deploy, one release, so one row keyed by the pipeline;
    started at the earlier start, finished when the workflow, delivered last, finished."""
    endpoint, secret = register(acme, "circleci", options={"deploy_pattern": "*deploy*"})
    failed = circleci_workflow(event_id="e-failed", name="deploy-canary", status="failed")
    failed["workflow"]["id"], failed["pipeline"]["id"] = "wf-failed", "pipeline-failed"
    for payload in (circleci_job(name="deploy-prod"), circleci_job(name="lint"), circleci_workflow(), failed):
        body = raw(payload)
        assert send(client, endpoint, body=body, headers=circleci_signed(secret, body)).status_code == 200
    process_deliveries()
    builds = {build.key: build for build in signals_of(acme)["build"]}
    assert set(builds) == {"fda08377-fe7e-46b1-8992-3a7aaecac9c3", "wf-failed"}
    build = builds["fda08377-fe7e-46b1-8992-3a7aaecac9c3"]
    assert (build.pipeline, build.status, build.sha, build.repository, build.duration_seconds) == (
        "build-test-deploy", "success", SHA, "github/acme/shop", 300.0)
    assert builds["wf-failed"].status == "failure"
    [deployment] = signals_of(acme)["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        "1285fe1d-d3a6-44fc-8886-8979558254c4", "shop", "production", "success", SHA)
    assert (deployment.started_at, deployment.finished_at) == (at("2026-11-02T12:00:00Z"), at("2026-11-02T12:05:00Z"))


def test_circleci_without_a_pipeline_id_keys_the_deployment_by_its_revision(acme, client):
    endpoint, secret = register(acme, "circleci")
    for payload in (circleci_job(name="deploy"), circleci_workflow(name="build-and-deploy")):
        del payload["pipeline"]["id"]
        body = raw(payload)
        assert send(client, endpoint, body=body, headers=circleci_signed(secret, body)).status_code == 200
    process_deliveries()
    assert [row.key for row in signals_of(acme)["deployment"]] == [SHA]


@pytest.mark.parametrize("provider, option, payload, name", [
    ("jenkins", "deploy_job_pattern", lambda name: jenkins_build("COMPLETED", name=name), "name"),
    ("circleci", "deploy_pattern", lambda name: circleci_workflow(name=name), "workflow"),
])
def test_a_deploy_pattern_is_a_case_insensitive_glob_never_a_regular_expression(acme, provider, option, payload,
                                                                               name):
    """A tenant's pattern runs on the shared worker: a glob (fnmatch), so no pattern can make it backtrack for
    ever; one in a regular expression's syntax is refused when the endpoint is registered."""
    from core.errors import Invalid
    from integrations import providers

    for number, catastrophic in enumerate(("(a+)+$", "^deploy", "deploy|release")):
        with pytest.raises(Invalid) as refused:
            register(acme, provider, name=f"refused {number}", options={option: catastrophic})
        assert refused.value.details["options"][0].startswith(f"{option}: A glob")
    names = iter(range(100))

    def deploys(pattern: str, job: str) -> bool:
        endpoint, _ = register(acme, provider, name=f"glob {next(names)}", options={option: pattern} if pattern else {})
        found = providers.provider(provider).signals(WebhookDelivery(provider=provider, endpoint=endpoint),
                                                     payload(job))
        return any(signal.kind == "deployment" for signal in found)

    assert deploys("", "shop-Deploy-eu")  # the default, `deploy`, without wildcards: anywhere in the name
    assert deploys("DEPLOY-?", "deploy-1") and deploys("*-prod", "shop-deploy-PROD")
    assert not deploys("deploy-?", "deploy-eu")  # `?` is one character, not "the one before, or not"
    assert not deploys("*-prod", "shop-prod-tests") and not deploys("deploy.*", "deploy-eu")


def test_circleci_a_late_retry_is_accepted_because_happened_at_is_no_delivery_time(acme, client):
    """CircleCI retries with the same body at an undocumented later time; its id, not a window, stops replays."""
    endpoint, secret = register(acme, "circleci")
    old = (datetime.now(UTC) - timedelta(hours=6)).isoformat()
    body = raw(circleci_workflow(event_id="late-retry", happened_at=old))
    assert send(client, endpoint, body=body, headers=circleci_signed(secret, body)).json() == {"status": "accepted"}


# --- Argo CD -------------------------------------------------------------------------------------------------


def test_argocd_sync_running_then_succeeded_is_one_deployment(acme, client):
    endpoint, secret = register(acme, "argocd", options={"environment": "staging"})
    running = raw(argocd_sync("Running"))
    succeeded = raw(argocd_sync("Succeeded", finished_at="2026-11-02T13:02:00Z"))
    for body in (running, succeeded):
        assert send(client, endpoint, body=body, url_secret=secret).json() == {"status": "accepted"}
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["sync.running", "sync.succeeded"]
    assert process_deliveries() == ["processed", "processed"]
    [deployment] = signals_of(acme)["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        f"shop:{SHA}:2026-11-02T13:00:00Z", "shop", "staging", "success", SHA)
    assert (deployment.started_at, deployment.finished_at) == (at("2026-11-02T13:00:00Z"), at("2026-11-02T13:02:00Z"))
    # The template's own environment wins over the endpoint's.
    failed = raw(argocd_sync("Failed", started_at="2026-11-02T13:58:00Z", finished_at="2026-11-02T14:00:00Z",
                             environment="prod"))
    send(client, endpoint, body=failed, headers=secret_header(secret, failed))
    process_deliveries()
    assert {(row.environment, row.status) for row in signals_of(acme)["deployment"]} == {
        ("staging", "success"), ("production", "failure")}
