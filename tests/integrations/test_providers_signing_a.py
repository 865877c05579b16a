"""GitLab, Linear, Shortcut, Heroku and Standard Webhooks at a tenant's registered endpoint: each verified the way its
vendor signs (a forged signature 403, none 401, a stale timestamp 403, and nothing stored), each delivery stored once
per id, and what it says about delivering software in the engineering tables."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from integrations.models import WebhookDelivery
from tests.integrations.conftest import process_deliveries
from tests.integrations.registered import register, send, signals_of

pytestmark = pytest.mark.django_db

SHA_A, SHA_B, SHA_M = "a" * 40, "b" * 40, "c" * 40
PROJECT = {"id": 15, "name": "Shop", "path_with_namespace": "acme/shop", "web_url": "https://gitlab.com/acme/shop"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- how each vendor signs: (secret, payload, delivery id, signed, sent_at) -> (raw body, headers) --------------


def standard_headers(secret: str, raw: bytes, msg_id: str, sent_at: float | None) -> dict:
    moment = datetime.fromtimestamp(time.time() if sent_at is None else sent_at, tz=UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, moment, raw.decode())}


def gitlab_token(secret, payload, delivery, signed=True, sent_at=None):
    """GitLab with the secret token: X-Gitlab-Token as is."""
    raw = json.dumps(payload).encode()
    headers = {"X-Gitlab-Event": payload.get("_event", "Push Hook"), "Idempotency-Key": delivery,
               "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    return raw, {**headers, **({"X-Gitlab-Token": secret} if signed else {})}


def gitlab_signing(secret, payload, delivery, signed=True, sent_at=None):
    """GitLab with the signing token: Standard Webhooks headers, webhook-id = Idempotency-Key."""
    raw = json.dumps(payload).encode()
    headers = {"X-Gitlab-Event": payload.get("_event", "Push Hook"), "Idempotency-Key": delivery}
    return raw, {**headers, **(standard_headers(secret, raw, delivery, sent_at) if signed else {})}


def linear(secret, payload, delivery, signed=True, sent_at=None):
    """Linear: webhookTimestamp (ms) in the body; Linear-Signature hex HMAC of it."""
    sent_ms = int((time.time() if sent_at is None else sent_at) * 1000)
    raw = json.dumps({**payload, "webhookTimestamp": sent_ms}).encode()
    headers = {"Linear-Delivery": delivery, "Linear-Event": payload["type"]}
    if signed:
        headers["Linear-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, headers


def shortcut(secret, payload, delivery, signed=True, sent_at=None):
    """Shortcut: the delivery's id in the body; Payload-Signature hex HMAC."""
    raw = json.dumps({**payload, "id": delivery}).encode()
    return raw, {"Payload-Signature": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()} if signed else {}


def heroku(secret, payload, delivery, signed=True, sent_at=None):
    """Heroku: webhook_metadata.delivery.id and Heroku-Webhook-Id; Heroku-Webhook-Hmac-SHA256 base64 HMAC."""
    metadata = {"attempt": {"id": str(uuid.uuid4())}, "delivery": {"id": delivery},
                "event": {"id": str(uuid.uuid4()), "include": f"api:{payload['resource']}"},
                "webhook": {"id": "9e1b4e5f-0000-4000-8000-000000000001"}}
    raw = json.dumps({**payload, "webhook_metadata": metadata}).encode()
    headers = {"Heroku-Webhook-Id": delivery}
    if signed:
        headers["Heroku-Webhook-Hmac-SHA256"] = base64.b64encode(
            hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, headers


def standard(secret, payload, delivery, signed=True, sent_at=None):
    raw = json.dumps(payload).encode()
    return raw, standard_headers(secret, raw, delivery, sent_at) if signed else {}


def deliver(client, endpoint, sign, secret, payload, delivery="delivery-1", **how):
    raw, headers = sign(secret, payload, delivery, **how)
    return send(client, endpoint, body=raw, headers=headers)


# --- payloads, trimmed from each vendor's documented examples ------------------------------------------------------

GITLAB_PUSH = {
    "_event": "Push Hook", "object_kind": "push", "event_name": "push", "before": "0" * 40, "after": SHA_B,
    "ref": "refs/heads/main", "checkout_sha": SHA_B, "user_username": "dana", "project": PROJECT,
    "commits": [{"id": SHA_A, "message": "Fix checkout\n\nEU cards", "title": "Fix checkout",
                 "timestamp": "2026-11-02T09:00:00+00:00", "url": f"https://gitlab.com/acme/shop/-/commit/{SHA_A}",
                 "author": {"name": "Dana", "email": "dana@acme.test"}},
                {"id": SHA_B, "message": "Tests", "title": "Tests", "timestamp": "2026-11-02T10:00:00+00:00",
                 "url": f"https://gitlab.com/acme/shop/-/commit/{SHA_B}", "author": {"name": "Dana"}}],
    "total_commits_count": 2}
GITLAB_MERGE = {
    "_event": "Merge Request Hook", "object_kind": "merge_request", "event_type": "merge_request", "project": PROJECT,
    "object_attributes": {"id": 99, "iid": 7, "title": "Checkout for EU cards", "state": "merged", "action": "merge",
                          "merge_commit_sha": SHA_M, "updated_at": "2026-11-02 11:00:00 UTC",
                          "url": "https://gitlab.com/acme/shop/-/merge_requests/7"}}
GITLAB_DEPLOYMENT = {
    "_event": "Deployment Hook", "object_kind": "deployment", "status": "success",
    "status_changed_at": "2026-11-02 12:30:00 +0100", "deployment_id": 15, "deployable_id": 796,
    "deployable_url": "https://gitlab.com/acme/shop/-/jobs/796", "environment": "prod-eu",
    "environment_tier": "production", "project": PROJECT, "short_sha": SHA_M[:8],
    "commit_url": f"https://gitlab.com/acme/shop/-/commit/{SHA_M}", "commit_title": "Checkout for EU cards",
    "ref": "main"}
GITLAB_PIPELINE = {
    "_event": "Pipeline Hook", "object_kind": "pipeline", "project": PROJECT,
    "object_attributes": {"id": 31, "iid": 3, "name": "CI", "ref": "main", "sha": SHA_M, "status": "failed",
                          "created_at": "2026-11-02 11:05:00 UTC", "finished_at": "2026-11-02 11:10:00 UTC",
                          "duration": 290, "url": "https://gitlab.com/acme/shop/-/pipelines/31"}}
GITLAB_INCIDENT = {
    "_event": "Issue Hook", "object_kind": "issue", "event_type": "issue", "project": PROJECT,
    "assignees": [{"username": "dana"}],
    "object_attributes": {"id": 301, "iid": 23, "title": "Checkout down", "state": "closed", "action": "close",
                          "issue_type": "incident", "severity": "critical", "created_at": "2026-11-02 13:00:00 UTC",
                          "updated_at": "2026-11-02 13:40:00 UTC", "closed_at": "2026-11-02 13:40:00 UTC",
                          "url": "https://gitlab.com/acme/shop/-/issues/23"}}

LINEAR_ISSUE = {
    "action": "update", "type": "Issue", "createdAt": "2026-11-02T09:30:00.000Z",
    "organizationId": "2a1f0b8e-7c2d-4a6b-9d3e-1f2a3b4c5d6e", "webhookId": "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
    "url": "https://linear.app/acme/issue/ENG-42/checkout-fails-for-eu-cards",
    "data": {"id": "6e1a3b2c-1d4e-4f5a-8b9c-0d1e2f3a4b5c", "identifier": "ENG-42",
             "title": "Checkout fails for EU cards",
             "createdAt": "2026-11-01T08:00:00.000Z", "updatedAt": "2026-11-02T09:30:00.000Z", "priority": 2,
             "state": {"id": "s-1", "name": "In Progress", "type": "started"},
             "team": {"id": "t-1", "key": "ENG", "name": "Engineering"}, "assignee": {"id": "u-1", "name": "Dana"},
             "url": "https://linear.app/acme/issue/ENG-42/checkout-fails-for-eu-cards"},
    "updatedFrom": {"stateId": "s-0", "updatedAt": "2026-11-01T08:00:00.000Z"}}

SHORTCUT_STORY = {
    "changed_at": "2026-11-02T09:45:00Z", "version": "v1", "primary_id": 1234, "member_id": "5a7e1b9a-0000",
    "actions": [{"id": 1234, "entity_type": "story", "action": "update", "name": "Checkout fails for EU cards",
                 "story_type": "bug", "app_url": "https://app.shortcut.com/acme/story/1234",
                 "changes": {"started": {"new": True, "old": False},
                             "workflow_state_id": {"new": 500000008, "old": 500000007}}}],
    "references": [{"id": 500000008, "entity_type": "workflow-state", "name": "In Progress", "type": "started"},
                   {"id": 500000007, "entity_type": "workflow-state", "name": "Ready", "type": "unstarted"}]}

HEROKU_RELEASE = {
    "id": "b1f4c0de-1111-4000-8000-000000000001", "resource": "release", "action": "update",
    "created_at": "2026-11-02T12:01:00Z", "published_at": "2026-11-02T12:01:01Z",
    "actor": {"email": "dana@acme.test"}, "previous_data": {"status": "pending"},
    "version": "application/vnd.heroku+json; version=3",
    "data": {"id": "01234567-89ab-cdef-0123-456789abcdef", "version": 42, "status": "succeeded", "current": True,
             "description": "Deploy ccccccc", "app": {"id": "app-1", "name": "acme-shop"},
             "slug": {"id": "slug-1", "commit": SHA_M}, "created_at": "2026-11-02T12:00:00Z",
             "updated_at": "2026-11-02T12:01:00Z"}}
HEROKU_BUILD = {
    "id": "b1f4c0de-2222-4000-8000-000000000002", "resource": "build", "action": "update",
    "data": {"id": "build-7", "status": "failed", "app": {"id": "app-1", "name": "acme-shop"},
             "source_blob": {"url": "https://example.test/source.tgz", "version": SHA_A, "version_description": "fix"},
             "created_at": "2026-11-02T11:50:00Z", "updated_at": "2026-11-02T11:53:00Z"}}

STANDARD_DEPLOYMENT = {
    "type": "deployment.succeeded", "timestamp": "2026-11-02T12:05:00Z",
    "data": {"id": "deploy-841", "service": "shop", "environment": "prod", "sha": SHA_M, "shas": [SHA_A, SHA_M],
             "started_at": "2026-11-02T12:00:00Z", "finished_at": 1793707500, "repository": "acme/shop",
             "title": "shop 1.4.2", "url": "https://deploy.acme.test/841", "unknown": "ignored"}}

SENDERS = {"gitlab": (gitlab_token, GITLAB_PUSH), "linear": (linear, LINEAR_ISSUE),
           "shortcut": (shortcut, SHORTCUT_STORY), "heroku": (heroku, HEROKU_RELEASE),
           "standardwebhooks": (standard, STANDARD_DEPLOYMENT)}


# --- what each provider's deliveries say ---------------------------------------------------------------------------


def test_gitlab_pushes_merges_deployments_pipelines_and_incidents_fill_the_tables(acme, client):
    endpoint, secret = register(acme, "gitlab")
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    # The one secret verifies both ways GitLab can send it: as the secret token and as the signing token.
    for number, payload in enumerate((GITLAB_PUSH, GITLAB_MERGE, GITLAB_DEPLOYMENT)):
        assert deliver(client, endpoint, gitlab_token, secret, payload, f"t-{number}").json() == {"status": "accepted"}
    for number, payload in enumerate((GITLAB_PIPELINE, GITLAB_INCIDENT)):
        assert deliver(client, endpoint, gitlab_signing, secret, payload, f"s-{number}").status_code == 200
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == [
        "Deployment Hook", "Issue Hook", "Merge Request Hook", "Pipeline Hook", "Push Hook"]
    assert process_deliveries() == ["processed"] * 5

    tables = signals_of(acme)
    changes = {change.sha: change for change in tables["change"]}
    assert set(changes) == {SHA_A, SHA_B, SHA_M}
    assert (changes[SHA_A].repository, changes[SHA_A].push, changes[SHA_A].title, changes[SHA_A].author) == (
        "acme/shop", SHA_B, "Fix checkout", "Dana")
    assert changes[SHA_A].committed_at == at("2026-11-02T09:00:00Z")
    assert (changes[SHA_M].pull_request, changes[SHA_M].merged_at) == ("7", at("2026-11-02T11:00:00Z"))

    [deployment] = tables["deployment"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        "15", "shop", "production", "success", SHA_M)
    assert deployment.finished_at == at("2026-11-02T11:30:00Z")
    assert list(deployment.changes.values_list("sha", flat=True)) == [SHA_M]

    [build] = tables["build"]
    assert (build.key, build.pipeline, build.status, build.sha, build.duration_seconds) == (
        "31", "CI", "failure", SHA_M, 290)
    assert (build.started_at, build.finished_at) == (at("2026-11-02T11:05:00Z"), at("2026-11-02T11:10:00Z"))

    [issue], [incident] = tables["issue"], tables["incident"]
    assert (issue.key, issue.status, issue.type, issue.assignee) == ("acme/shop#23", "closed", "incident", "dana")
    assert (incident.key, incident.service, incident.severity) == ("acme/shop#23", "shop", "critical")
    assert (incident.opened_at, incident.resolved_at) == (at("2026-11-02T13:00:00Z"), at("2026-11-02T13:40:00Z"))


def test_a_linear_issue_is_an_issue(acme, client):
    endpoint, secret = register(acme, "linear")
    assert deliver(client, endpoint, linear, secret, LINEAR_ISSUE).json() == {"status": "accepted"}
    assert WebhookDelivery.objects.get().event_type == "Issue"
    assert process_deliveries() == ["processed"]
    [issue] = signals_of(acme)["issue"]
    assert (issue.key, issue.title, issue.status, issue.project, issue.assignee) == (
        LINEAR_ISSUE["data"]["id"], "ENG-42 Checkout fails for EU cards", "In Progress", "ENG", "Dana")
    assert (issue.at, issue.url) == (at("2026-11-02T09:30:00Z"), LINEAR_ISSUE["data"]["url"])


def test_a_shortcut_story_moved_is_an_issue_in_its_new_workflow_state(acme, client):
    endpoint, secret = register(acme, "shortcut")
    assert deliver(client, endpoint, shortcut, secret, SHORTCUT_STORY, "595285dc-9c43").status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.dedup_key, delivery.event_type) == ("595285dc-9c43", "story.update")
    assert process_deliveries() == ["processed"]
    [issue] = signals_of(acme)["issue"]
    assert (issue.key, issue.title, issue.status, issue.type, issue.at) == (
        "1234", "Checkout fails for EU cards", "In Progress", "bug", at("2026-11-02T09:45:00Z"))


def test_a_heroku_release_is_a_production_deployment_and_a_build_a_build(acme, client):
    endpoint, secret = register(acme, "heroku")
    assert deliver(client, endpoint, heroku, secret, HEROKU_RELEASE, "d-release").status_code == 200
    assert deliver(client, endpoint, heroku, secret, HEROKU_BUILD, "d-build").status_code == 200
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["build.update", "release.update"]
    assert process_deliveries() == ["processed", "processed"]
    tables = signals_of(acme)
    [deployment], [build] = tables["deployment"], tables["build"]
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        HEROKU_RELEASE["data"]["id"], "acme-shop", "production", "success", SHA_M)
    assert (deployment.started_at, deployment.finished_at) == (at("2026-11-02T12:00:00Z"), at("2026-11-02T12:01:00Z"))
    assert (build.key, build.pipeline, build.status, build.sha) == ("build-7", "acme-shop", "failure", SHA_A)
    assert build.duration_seconds == 180


def test_standard_webhooks_events_in_emmas_field_names_fill_the_tables(acme, client):
    endpoint, secret = register(acme, "standardwebhooks")
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    events = [STANDARD_DEPLOYMENT,
              {"type": "incident.resolved", "data": {"id": "INC-12", "service": "shop", "severity": "sev1",
                                                     "opened_at": "2026-11-02T13:00:00Z",
                                                     "resolved_at": "2026-11-02T13:30:00Z",
                                                     "deployment_key": "deploy-841"}},
              {"type": "change.merged", "data": {"sha": SHA_A, "repository": "acme/shop", "pull_request": 42,
                                                 "merged_at": "2026-11-02T11:00:00Z"}},
              {"type": "build.failed", "data": {"id": "b-7", "pipeline": "ci", "duration_seconds": "312.5"}},
              {"type": "invoice.paid", "data": {"id": "in-1"}}]
    for number, payload in enumerate(events):
        assert deliver(client, endpoint, standard, secret, payload, f"msg_{number}").status_code == 200
    assert WebhookDelivery.objects.get(dedup_key="msg_0").event_type == "deployment.succeeded"
    assert process_deliveries() == ["processed"] * 4 + ["ignored"]

    tables = signals_of(acme)
    [deployment], [incident], [change], [build] = (tables[kind] for kind in ("deployment", "incident", "change",
                                                                            "build"))
    assert (deployment.key, deployment.service, deployment.environment, deployment.status, deployment.sha) == (
        "deploy-841", "shop", "production", "success", SHA_M)
    assert deployment.finished_at == datetime.fromtimestamp(1793707500, tz=UTC)
    assert sorted(deployment.changes.values_list("sha", flat=True)) == [SHA_A, SHA_M]
    assert (incident.key, incident.status, incident.severity, incident.deployment_key) == (
        "INC-12", "resolved", "sev1", "deploy-841")
    assert incident.resolved_at == at("2026-11-02T13:30:00Z")
    assert (change.sha, change.pull_request, change.merged_at) == (SHA_A, "42", at("2026-11-02T11:00:00Z"))
    assert (build.key, build.status, build.duration_seconds) == ("b-7", "failure", 312.5)


# --- verification, across the providers ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(SENDERS))
def test_a_forged_or_unsigned_delivery_is_refused_and_stores_nothing(provider, acme, client):
    endpoint, secret = register(acme, provider)
    sign, payload = SENDERS[provider]
    forged = deliver(client, endpoint, sign, "whsec_" + base64.b64encode(b"x" * 32).decode(), payload)
    assert forged.status_code == 403
    assert forged.json()["error"]["details"]["reason"].startswith("bad_")
    unsigned = deliver(client, endpoint, sign, secret, payload, signed=False)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["details"]["reason"].startswith("missing_")
    assert not WebhookDelivery.objects.exists()


def test_a_forged_gitlab_signing_token_is_refused_even_with_the_right_token_beside_it(acme, client):
    endpoint, secret = register(acme, "gitlab")
    raw, headers = gitlab_signing("whsec_" + base64.b64encode(b"x" * 32).decode(), GITLAB_PUSH, "d-1")
    assert send(client, endpoint, body=raw, headers={**headers, "X-Gitlab-Token": secret}).status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_a_signed_gitlab_replay_with_a_new_idempotency_key_is_still_a_duplicate(acme, client):
    """Idempotency-Key is not signed; webhook-id is: a captured signed delivery resent inside the window with a new
    Idempotency-Key is the same delivery."""
    endpoint, secret = register(acme, "gitlab")
    raw, headers = gitlab_signing(secret, GITLAB_PUSH, "msg-1")
    assert send(client, endpoint, body=raw, headers=headers).json() == {"status": "accepted"}
    replay = send(client, endpoint, body=raw, headers={**headers, "Idempotency-Key": "msg-2"})
    assert replay.json() == {"status": "duplicate"}
    assert list(WebhookDelivery.objects.values_list("dedup_key", flat=True)) == ["msg-1"]


@pytest.mark.parametrize("provider,sign,payload", [
    ("gitlab", gitlab_signing, GITLAB_PUSH), ("linear", linear, LINEAR_ISSUE),
    ("standardwebhooks", standard, STANDARD_DEPLOYMENT)])
def test_a_stale_timestamp_is_refused_and_stores_nothing(provider, sign, payload, acme, client):
    endpoint, secret = register(acme, provider)
    stale = deliver(client, endpoint, sign, secret, payload, sent_at=time.time() - 3600)
    assert stale.status_code == 403
    assert stale.json()["error"]["details"]["reason"] == "stale_timestamp"
    assert not WebhookDelivery.objects.exists()
    assert deliver(client, endpoint, sign, secret, payload).status_code == 200


@pytest.mark.parametrize("provider", sorted(SENDERS))
def test_a_redelivery_of_the_same_id_is_a_duplicate(provider, acme, client):
    endpoint, secret = register(acme, provider)
    sign, payload = SENDERS[provider]
    assert deliver(client, endpoint, sign, secret, payload, "same-id").json() == {"status": "accepted"}
    assert deliver(client, endpoint, sign, secret, payload, "same-id").json() == {"status": "duplicate"}
    assert deliver(client, endpoint, sign, secret, payload, "other-id").json() == {"status": "accepted"}
    assert sorted(WebhookDelivery.objects.values_list("dedup_key", flat=True)) == ["other-id", "same-id"]
