"""Every inbound endpoint: a signed request is stored once; a forged, unsigned, stale or replayed one is
refused (or recognised) and never processed; a disabled integration is not there; one without its secret
says it cannot verify."""

import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from prometheus_client import REGISTRY

from integrations.models import WebhookDelivery
from tests.integrations.conftest import (
    GITHUB_WEBHOOK_SECRET,
    JIRA_WEBHOOK_SECRET,
    SENTRY_WEBHOOK_SECRET,
    SLACK_SIGNING_SECRET,
    TWILIO_AUTH_TOKEN,
    WABA_APP_SECRET,
    hub_signature,
    sentry_signature,
    slack_headers,
    twilio_signature,
)

pytestmark = pytest.mark.django_db

MARKER = "body-marker-that-must-never-be-logged"


# --- one signed request per endpoint, built the way its provider builds it ---------------------------


def slack_events(secret=SLACK_SIGNING_SECRET, timestamp=None):
    body = json.dumps({"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10]}", "team_id": "T1",
                       "event": {"type": "message", "channel_type": "im", "user": "U404", "text": MARKER}}).encode()
    return {"path": "/webhooks/slack/events", "data": body, "content_type": "application/json",
            "headers": slack_headers(body, timestamp=timestamp, secret=secret)}


def slack_commands(secret=SLACK_SIGNING_SECRET, timestamp=None):
    body = urlencode({"command": "/emma", "text": MARKER, "user_id": "U404",
                      "trigger_id": f"{uuid.uuid4().int}.1.x"}).encode()
    return {"path": "/webhooks/slack/commands", "data": body, "content_type": "application/x-www-form-urlencoded",
            "headers": slack_headers(body, timestamp=timestamp, secret=secret)}


def slack_interactions(secret=SLACK_SIGNING_SECRET, timestamp=None):
    payload = {"type": "block_actions", "user": {"id": "U404"}, "trigger_id": "1.2.3", "note": MARKER,
               "actions": [{"action_id": "emma_approve", "block_id": f"emma:{uuid.uuid4()}", "value": "123456"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return {"path": "/webhooks/slack/interactions", "data": body, "content_type": "application/x-www-form-urlencoded",
            "headers": slack_headers(body, timestamp=timestamp, secret=secret)}


def twilio_sms(secret=TWILIO_AUTH_TOKEN, timestamp=None):
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": "+15551230000", "To": "+15550000000", "Body": MARKER}
    return {"path": "/webhooks/twilio/sms", "data": urlencode(params),
            "content_type": "application/x-www-form-urlencoded",
            "headers": {"X-Twilio-Signature": twilio_signature("http://testserver/webhooks/twilio/sms", params,
                                                               secret)}}


def waba_messages(secret=WABA_APP_SECRET, timestamp=None):
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": [
        {"from": "15551230000", "id": "wamid." + uuid.uuid4().hex, "type": "text", "text": {"body": MARKER}}]}}]}]}
    ).encode()
    return {"path": "/webhooks/waba/messages", "data": body, "content_type": "application/json",
            "headers": {"X-Hub-Signature-256": hub_signature(secret, body)}}


def github(secret=GITHUB_WEBHOOK_SECRET, timestamp=None):
    body = json.dumps({"action": "opened", "issue": {"number": 1, "title": MARKER}}).encode()
    return {"path": "/webhooks/github", "data": body, "content_type": "application/json",
            "headers": {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
                        "X-Hub-Signature-256": hub_signature(secret, body)}}


def jira(secret=JIRA_WEBHOOK_SECRET, timestamp=None):
    body = json.dumps({"webhookEvent": "jira:issue_created", "issue": {"key": "X-1", "fields": {"summary": MARKER}}}
                      ).encode()
    return {"path": "/webhooks/jira", "data": body, "content_type": "application/json",
            "headers": {"X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
                        "X-Hub-Signature": hub_signature(secret, body)}}


def sentry(secret=SENTRY_WEBHOOK_SECRET, timestamp=None):
    body = json.dumps({"action": "triggered", "data": {"event": {"title": MARKER}}}).encode()
    return {"path": "/webhooks/sentry", "data": body, "content_type": "application/json",
            "headers": {"Sentry-Hook-Resource": "event_alert", "Request-ID": str(uuid.uuid4()),
                        "Sentry-Hook-Timestamp": str(int(time.time()) if timestamp is None else timestamp),
                        "Sentry-Hook-Signature": sentry_signature(body, secret)}}


# endpoint: (build, provider, signature header, secret setting, integration switch, signs a timestamp)
ENDPOINTS = {
    "slack_events": (slack_events, "slack", "X-Slack-Signature", "SLACK_SIGNING_SECRET", "SLACK", True),
    "slack_commands": (slack_commands, "slack", "X-Slack-Signature", "SLACK_SIGNING_SECRET", "SLACK", True),
    "slack_interactions": (slack_interactions, "slack", "X-Slack-Signature", "SLACK_SIGNING_SECRET", "SLACK", True),
    "twilio_sms": (twilio_sms, "twilio", "X-Twilio-Signature", "TWILIO_AUTH_TOKEN", "TWILIO", False),
    "waba_messages": (waba_messages, "waba", "X-Hub-Signature-256", "WABA_APP_SECRET", "WABA", False),
    "github": (github, "github", "X-Hub-Signature-256", "GITHUB_WEBHOOK_SECRET", "GITHUB", False),
    "jira": (jira, "jira", "X-Hub-Signature", "JIRA_WEBHOOK_SECRET", "JIRA", False),
    "sentry": (sentry, "sentry", "Sentry-Hook-Signature", "SENTRY_WEBHOOK_SECRET", "SENTRY", True),
}


def send(client, request):
    return client.post(request["path"], data=request["data"], content_type=request["content_type"],
                       headers=request["headers"])


def refused_count(provider, reason) -> float:
    return REGISTRY.get_sample_value("emma_webhooks_refused_total", {"provider": provider, "reason": reason}) or 0


@pytest.fixture(params=list(ENDPOINTS))
def endpoint(request):
    return ENDPOINTS[request.param]


def test_signed_request_is_stored_once_and_acknowledged(client, endpoint):
    build, provider, *_ = endpoint
    response = send(client, build())
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert delivery.provider == provider and delivery.status == "received"
    assert MARKER in delivery.body


def test_replayed_request_is_acknowledged_and_not_stored_again(client, endpoint):
    build, *_ = endpoint
    request = build()
    assert send(client, request).status_code == 200
    replay = send(client, request)
    assert replay.status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_forged_signature_is_refused_counted_and_not_stored(client, endpoint, caplog):
    build, provider, *_ = endpoint
    before = refused_count(provider, "bad_signature")
    response = send(client, build(secret="not-the-secret"))
    assert response.status_code == 403
    assert response.json()["error"]["details"]["reason"] == "bad_signature"
    assert WebhookDelivery.objects.count() == 0
    assert refused_count(provider, "bad_signature") == before + 1
    assert "refused" in caplog.text and MARKER not in caplog.text


def test_missing_signature_is_refused_with_401(client, endpoint):
    build, provider, header, *_ = endpoint
    request = build()
    del request["headers"][header]
    response = send(client, request)
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


def test_tampered_body_is_refused(client, endpoint):
    build, *_ = endpoint
    request = build()
    data = request["data"]
    request["data"] = (data.encode() if isinstance(data, str) else data).replace(MARKER.encode(), b"something-else")
    assert send(client, request).status_code == 403
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("name", [name for name, spec in ENDPOINTS.items() if spec[5]])
def test_stale_timestamp_is_refused_even_with_a_good_signature(client, name):
    """Only Slack and Sentry sign a timestamp; the others' old replays are caught by their dedup key."""
    build = ENDPOINTS[name][0]
    response = send(client, build(timestamp=int(time.time()) - 301))
    assert response.status_code == 403
    assert response.json()["error"]["details"]["reason"] == "stale_timestamp"
    assert WebhookDelivery.objects.count() == 0


def test_disabled_integration_answers_404(client, endpoint, settings):
    build, _, _, _, switch, _ = endpoint
    settings.INTEGRATIONS_ENABLED = {**settings.INTEGRATIONS_ENABLED, switch.lower(): False}
    assert send(client, build()).status_code == 404
    assert WebhookDelivery.objects.count() == 0


def test_missing_secret_answers_503_not_500(client, endpoint, settings):
    build, _, _, secret_setting, _, _ = endpoint
    request = build()
    setattr(settings, secret_setting, "")
    response = send(client, request)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_configured"
    assert WebhookDelivery.objects.count() == 0


# --- provider specifics ---------------------------------------------------------------------------


def test_slack_url_verification_echoes_the_challenge_after_the_signature(client):
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "token": "x"}).encode()
    response = client.post("/webhooks/slack/events", data=body, content_type="application/json",
                           headers=slack_headers(body))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    forged = client.post("/webhooks/slack/events", data=body, content_type="application/json",
                         headers=slack_headers(body, secret="wrong"))
    assert forged.status_code == 403
    assert WebhookDelivery.objects.count() == 0


def test_slack_redelivery_with_a_fresh_signature_is_deduplicated_by_event_id(client):
    event = {"type": "event_callback", "event_id": "Ev0001",
             "event": {"type": "message", "channel_type": "im", "user": "U1", "text": "hi"}}
    body = json.dumps(event).encode()
    assert client.post("/webhooks/slack/events", data=body, content_type="application/json",
                       headers=slack_headers(body)).status_code == 200
    # Slack retries with a new timestamp and signature, and X-Slack-Retry-Num.
    retry = client.post("/webhooks/slack/events", data=body, content_type="application/json",
                        headers={**slack_headers(body, timestamp=int(time.time()) + 1), "X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    assert WebhookDelivery.objects.filter(dedup_key="event:Ev0001").count() == 1


def test_twilio_signature_covers_the_public_url_behind_a_proxy(client, settings):
    params = {"MessageSid": "SMproxy", "From": "+15551230000", "To": "+15550000000", "Body": "hello"}
    public = "https://emma.example.com/webhooks/twilio/sms"
    signature = twilio_signature(public, params)
    body = urlencode(params)
    behind_proxy = client.post("/webhooks/twilio/sms", data=body, content_type="application/x-www-form-urlencoded",
                               headers={"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https",
                                        "X-Forwarded-Host": "emma.example.com"})
    assert behind_proxy.status_code == 200
    assert behind_proxy["Content-Type"].startswith("text/xml")
    settings.PUBLIC_BASE_URL = "https://emma.example.com"
    params["MessageSid"] = "SMbase"
    by_setting = client.post("/webhooks/twilio/sms", data=urlencode(params),
                             content_type="application/x-www-form-urlencoded",
                             headers={"X-Twilio-Signature": twilio_signature(public, params)})
    assert by_setting.status_code == 200
    assert WebhookDelivery.objects.filter(provider="twilio").count() == 2


def test_whatsapp_verify_handshake(client):
    ok = client.get("/webhooks/waba/messages", {"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                                "hub.verify_token": "waba-verify-token-for-tests"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = client.get("/webhooks/waba/messages", {"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                   "hub.challenge": "1158201444"})
    assert wrong.status_code == 403


def test_signed_but_unusable_request_is_400_and_not_stored(client):
    body = b"not json"
    response = client.post("/webhooks/github", data=body, content_type="application/json", headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": hub_signature(
            GITHUB_WEBHOOK_SECRET, body)})
    assert response.status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_wrong_method_gets_a_json_405(client):
    response = client.get("/webhooks/github")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
