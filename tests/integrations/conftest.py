"""Fake vendors and signed requests for the integration tests.

Three real HTTP servers on loopback play Slack's Web API, Twilio's REST API and Meta's Graph API: they
record what they receive and can fail on demand. They start when this file is imported (at collection,
before any test or worker runs) and their URLs and test credentials go into the settings of the
processes the suite starts (tests.conftest.CHILD_SETTINGS), so the session's Celery worker
(tests.conftest.celery_worker_process), started later, talks to them too. In this process the same values are set on Django settings for each test."""

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest
from config.settings import base
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from integrations import breaker, limits
from tests.conftest import CHILD_SETTINGS


class FakeVendor:
    """One vendor's API: answers `route(path, body) -> (status, json)`, records every request, and
    fails with `fail_status` for the next `fail_times` requests (or all of them while `failing`)."""

    def __init__(self, name: str, route, failure: dict):
        self.name = name
        self.route = route
        self.failure = failure
        self.lock = threading.Lock()
        self.reset()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or b"{}")
                else:
                    body = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                status, answer = vendor.answer(self.path, dict(self.headers), body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name=f"fake-{name}").start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def reset(self):
        with self.lock:
            self.requests = []
            self.fail_times = 0
            self.failing = False
            self.fail_status = 500
            self.fail_body = None
            self.delay = 0.0

    def fail(self, times: int | None = None, status: int = 500, body: dict | None = None):
        """Fail the next `times` requests, or every request until `recover()` when times is None, with
        `status` and the vendor's error body (or `body`)."""
        with self.lock:
            self.fail_status = status
            self.fail_body = body
            self.fail_times = times or 0
            self.failing = times is None

    def recover(self):
        with self.lock:
            self.failing = False
            self.fail_times = 0

    def answer(self, path, headers, body):
        with self.lock:
            failed = self.failing or self.fail_times > 0
            if self.fail_times > 0:
                self.fail_times -= 1
            self.requests.append({"path": path, "headers": headers, "body": body, "failed": failed,
                                  "at": time.time()})
        if self.delay:
            time.sleep(self.delay)
        if failed:
            return self.fail_status, self.fail_body or self.failure
        return self.route(path, body)

    # --- what tests read ---

    def delivered(self, path_part: str = "") -> list[dict]:
        """The requests answered with success (optionally only those whose path contains `path_part`)."""
        with self.lock:
            return [r for r in self.requests if not r["failed"] and path_part in r["path"]]

    def failures(self) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["failed"])


def _slack_route(path, body):
    channel = body.get("channel", "")
    if path.endswith("/chat.postMessage"):
        # A member id posts into the app's direct message with them: Slack answers with that D… channel.
        landed = "D" + channel[1:] if channel.startswith("U") else channel
        return 200, {"ok": True, "channel": landed, "ts": f"{time.time():.6f}", "message": {"text": body.get("text")}}
    if path.endswith("/chat.update"):
        return 200, {"ok": True, "channel": channel, "ts": body.get("ts"), "text": body.get("text")}
    return 404, {"ok": False, "error": "unknown_method"}


def _twilio_route(path, body):
    if path.endswith("/Messages.json"):
        return 201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": body.get("To"),
                     "from": body.get("From"), "body": body.get("Body"), "num_segments": "1"}
    return 404, {"code": 20404, "message": "not found", "status": 404}


def _graph_route(path, body):
    if path.endswith("/messages"):
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                     "messages": [{"id": "wamid." + uuid.uuid4().hex}]}
    return 404, {"error": {"message": "unknown path", "code": 100}}


class FakeVendors:
    def __init__(self):
        # Each fails the way its vendor does.
        self.slack = FakeVendor("slack", _slack_route, {"ok": False, "error": "internal_error"})
        self.twilio = FakeVendor("twilio", _twilio_route, {"code": 20500, "message": "Internal Server Error",
                                                           "more_info": "https://www.twilio.com/docs/errors/20500",
                                                           "status": 500})
        self.waba = FakeVendor("waba", _graph_route, {"error": {"message": "Service temporarily unavailable",
                                                                "type": "OAuthException", "code": 2,
                                                                "is_transient": True}})

    def reset(self):
        for vendor in (self.slack, self.twilio, self.waba):
            vendor.reset()

    def all(self):
        return [self.slack, self.twilio, self.waba]


VENDORS = FakeVendors()

SLACK_SIGNING_SECRET = "slack-signing-secret-for-tests"
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
TWILIO_FROM_NUMBER = "+15550000000"
WABA_PHONE_ID = "106540352242922"
WABA_APP_SECRET = "waba-app-secret-for-tests"
WABA_VERIFY_TOKEN = "waba-verify-token-for-tests"
GITHUB_WEBHOOK_SECRET = "github-secret-for-tests"
JIRA_WEBHOOK_SECRET = "jira-secret-for-tests"
SENTRY_WEBHOOK_SECRET = "sentry-secret-for-tests"
BREAKER_COOLDOWN_SECONDS = 2

INTEGRATION_SETTINGS = {
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
    "SLACK_API_URL": f"{VENDORS.slack.url}/api/",
    "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": TWILIO_FROM_NUMBER,
    "TWILIO_API_URL": VENDORS.twilio.url,
    "WABA_PHONE_ID": WABA_PHONE_ID,
    "WABA_ACCESS_TOKEN": "waba-access-token-for-tests",
    "WABA_APP_SECRET": WABA_APP_SECRET,
    "WABA_VERIFY_TOKEN": WABA_VERIFY_TOKEN,
    "WABA_API_URL": VENDORS.waba.url,
    "GITHUB_WEBHOOK_SECRET": GITHUB_WEBHOOK_SECRET,
    "JIRA_WEBHOOK_SECRET": JIRA_WEBHOOK_SECRET,
    "SENTRY_WEBHOOK_SECRET": SENTRY_WEBHOOK_SECRET,
    "INTEGRATIONS_BREAKER_COOLDOWN_SECONDS": BREAKER_COOLDOWN_SECONDS,
    "INTEGRATIONS_BREAKER_THRESHOLD": 5,
    "INTEGRATIONS_DEFAULT_RATE_PER_SEC": 1000.0,  # the rate-limit test sets its own
    "PUBLIC_BASE_URL": "",
    "INTEGRATIONS_DEFAULT_TENANT": "",
    "INTEGRATIONS_ENABLED": {name: True for name in base.WEBHOOK_PROVIDERS},
    "INTEGRATIONS_RATE_PER_SEC": {"slack": None, "twilio": None, "waba": None},
    "MAX_DAILY_MESSAGES": {"slack": None, "sms": None, "whatsapp": None},
}
# For the worker processes started later in this session.
CHILD_SETTINGS.update(INTEGRATION_SETTINGS)


@pytest.fixture(autouse=True)
def integration_settings(settings):
    """The same values in this process, whatever Django settings were computed from before import
    (the dicts copied, so a test that changes one in place cannot leak it into the next)."""
    for name, value in INTEGRATION_SETTINGS.items():
        setattr(settings, name, dict(value) if isinstance(value, dict) else value)
    # No model unless a test asks for one (fake_llm): a request from chat is then an assistant.request.
    settings.LLM_PROVIDER, settings.LLM_BASE_URL, settings.LLM_API_KEY = "openai", "", ""
    return settings


@pytest.fixture(autouse=True)
def _clean_shared_state():
    """Breakers, rate and cap counters live in Redis, shared with the worker; each test starts clean."""
    VENDORS.reset()
    for provider in breaker.PROVIDERS:
        breaker.reset(provider)
    limits.reset()
    yield
    VENDORS.reset()
    for provider in breaker.PROVIDERS:
        breaker.reset(provider)


@pytest.fixture
def fake_vendors():
    return VENDORS


# --- identities -----------------------------------------------------------------------------------


@pytest.fixture
def link():
    """link(user, channel, address): a ChannelIdentity in the user's tenant."""
    from integrations import services

    def make(user, channel, address):
        return services.identity_create(tenant_id=user.memberships.get().tenant_id, user=user, channel=channel,
                                        address=address)

    return make


# --- signed requests, the way each provider signs them ----------------------------------------------


def slack_headers(body: bytes, *, timestamp: int | None = None, secret: str = SLACK_SIGNING_SECRET) -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def twilio_signature(url: str, params: dict, token: str = TWILIO_AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sentry_signature(body: bytes, secret: str = SENTRY_WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks:
    """Signed posts to each endpoint through Django's test client (or any client with .post/.get)."""

    def __init__(self, client):
        self.client = client

    def slack_command(self, *, user_id: str, text: str, trigger_id: str | None = None, timestamp=None,
                      secret=SLACK_SIGNING_SECRET, headers: dict | None = None):
        body = urlencode({"command": "/emma", "text": text, "user_id": user_id, "team_id": "T1",
                          "channel_id": "C1", "trigger_id": trigger_id or f"{uuid.uuid4().int}.1.abc",
                          "response_url": "https://hooks.slack.com/commands/x"}).encode()
        signed = slack_headers(body, timestamp=timestamp, secret=secret) if headers is None else headers
        return self.client.post("/webhooks/slack/commands", data=body, content_type="application/x-www-form-urlencoded",
                                headers=signed)

    def slack_event(self, payload: dict, *, timestamp=None, secret=SLACK_SIGNING_SECRET):
        body = json.dumps(payload).encode()
        return self.client.post("/webhooks/slack/events", data=body, content_type="application/json",
                                headers=slack_headers(body, timestamp=timestamp, secret=secret))

    def slack_button(self, *, user_id: str, action_id: str, code: str, escalation_id, timestamp=None,
                     secret=SLACK_SIGNING_SECRET):
        payload = {"type": "block_actions", "user": {"id": user_id}, "trigger_id": f"{uuid.uuid4().int}.2.x",
                   "actions": [{"action_id": action_id, "block_id": f"emma:{escalation_id}", "value": code,
                                "type": "button"}],
                   "container": {"type": "message"}, "channel": {"id": "D1"}}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.client.post("/webhooks/slack/interactions", data=body,
                                content_type="application/x-www-form-urlencoded",
                                headers=slack_headers(body, timestamp=timestamp, secret=secret))

    def sms(self, *, sender: str, text: str, sid: str | None = None, token=TWILIO_AUTH_TOKEN, signature=None,
            url="http://testserver/webhooks/twilio/sms", headers: dict | None = None):
        params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_ACCOUNT_SID, "From": sender,
                  "To": TWILIO_FROM_NUMBER, "Body": text, "NumMedia": "0"}
        signed = {"X-Twilio-Signature": signature if signature is not None else twilio_signature(url, params, token)}
        return self.client.post("/webhooks/twilio/sms", data=urlencode(params),
                                content_type="application/x-www-form-urlencoded", headers={**signed, **(headers or {})})

    def whatsapp(self, *, sender: str, text: str, message_id: str | None = None, secret=WABA_APP_SECRET):
        value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": WABA_PHONE_ID},
                 "contacts": [{"wa_id": sender.lstrip("+"), "profile": {"name": "Someone"}}],
                 "messages": [{"from": sender.lstrip("+"), "id": message_id or "wamid." + uuid.uuid4().hex,
                               "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}]}
        payload = {"object": "whatsapp_business_account",
                   "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}
        body = json.dumps(payload).encode()
        return self.client.post("/webhooks/waba/messages", data=body, content_type="application/json",
                                headers={"X-Hub-Signature-256": hub_signature(secret, body)})

    def github(self, event: str, payload: dict, *, delivery_id: str | None = None, secret=GITHUB_WEBHOOK_SECRET,
               tenant: str | None = None):
        body = json.dumps(payload).encode()
        query = f"?tenant={tenant}" if tenant else ""
        return self.client.post(f"/webhooks/github{query}", data=body, content_type="application/json", headers={
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-Hub-Signature-256": hub_signature(secret, body)})

    def jira(self, payload: dict, *, identifier: str | None = None, secret=JIRA_WEBHOOK_SECRET,
             tenant: str | None = None):
        body = json.dumps(payload).encode()
        query = f"?tenant={tenant}" if tenant else ""
        return self.client.post(f"/webhooks/jira{query}", data=body, content_type="application/json", headers={
            "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
            "X-Hub-Signature": hub_signature(secret, body)})

    def sentry(self, resource: str, payload: dict, *, request_id: str | None = None, timestamp=None,
               secret=SENTRY_WEBHOOK_SECRET, tenant: str | None = None):
        body = json.dumps(payload).encode()
        query = f"?tenant={tenant}" if tenant else ""
        return self.client.post(f"/webhooks/sentry{query}", data=body, content_type="application/json", headers={
            "Sentry-Hook-Resource": resource, "Request-ID": request_id or str(uuid.uuid4()),
            "Sentry-Hook-Timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "Sentry-Hook-Signature": sentry_signature(body, secret)})


@pytest.fixture
def webhooks(client):
    return Webhooks(client)


# --- payloads -------------------------------------------------------------------------------------------


def failed_workflow_run(repo="acme/shop", name="CI", branch="main", number=42) -> dict:
    return {"action": "completed", "repository": {"full_name": repo, "html_url": f"https://github.com/{repo}"},
            "sender": {"login": "octocat"},
            "workflow_run": {"name": name, "head_branch": branch, "run_number": number, "status": "completed",
                             "conclusion": "failure", "html_url": f"https://github.com/{repo}/actions/runs/{number}"}}


def sentry_issue_alert(title="ZeroDivisionError: division by zero", rule="Page the on-call") -> dict:
    return {"action": "triggered", "actor": {"type": "application", "name": "Sentry"},
            "data": {"triggered_rule": rule, "event": {"title": title,
                                                       "web_url": "https://sentry.io/organizations/acme/issues/1/"}}}


def jira_issue_created(key="SHOP-7", summary="Checkout fails for EU cards") -> dict:
    return {"webhookEvent": "jira:issue_created", "user": {"displayName": "Dana"},
            "issue": {"key": key, "self": "https://acme.atlassian.net/rest/api/2/issue/10007",
                      "fields": {"summary": summary, "status": {"name": "To Do"}}}}


# --- running the pipeline in this process, where crossing the broker is not the point ------------------


def process_deliveries() -> list[str]:
    """Process every received delivery, as the worker's integrations.process_delivery would, and run what
    each deferred to after its commit (a test's transaction never commits; in a transactional test the
    callbacks simply run at each commit)."""
    from django.test import TestCase

    from integrations import services
    from integrations.models import WebhookDelivery

    with TestCase.captureOnCommitCallbacks(execute=True):
        return [services.delivery_process(delivery_id=pk) for pk in
                WebhookDelivery.objects.filter(status="received").order_by("pk").values_list("pk", flat=True)]


def deliver_outbox() -> list[str]:
    """Send every queued, due message once, as integrations.send_message would."""
    from django.utils import timezone

    from integrations import outbound
    from integrations.models import OutboundMessage

    return [outbound.message_send(message_id=pk) for pk in OutboundMessage.objects.filter(
        status="queued", next_attempt_at__lte=timezone.now()).order_by("pk").values_list("pk", flat=True)]


# --- GitHub: a fake GitHub (tests/fakes/github.py) and Emma's App pointed at it ----------------------------


@pytest.fixture
def fake_github(settings):
    """The session's fake GitHub, emptied, with the App's settings pointing at it and its installation page
    sending the browser back to the test client's callback."""
    from tests.fakes.github import fake_github_server, settings_for

    fake = fake_github_server()
    fake.reset()
    fake.callback = "http://testserver/oauth/github/callback"
    for name, value in settings_for(fake).items():
        setattr(settings, name, value)
    return fake
