"""Completion callbacks: one signed delivery per finished task, retried until delivered or dead, sent only
to public addresses unless allowed, with secrets a tenant admin rotates; receivers here are real HTTP
servers on loopback, and signatures are checked with the Standard Webhooks library itself."""

import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from emma import callbacks, services
from emma.models import AgentTask, CallbackAttempt, CallbackDelivery, CallbackSecret
from governance.models import AuditEvent
from tests.conftest import CHILD_SETTINGS, wait_for, wait_for_status

pytestmark = pytest.mark.django_db

# The session's worker sends to this file's loopback receivers too.
CHILD_SETTINGS["CALLBACK_ALLOW_PRIVATE_URLS"] = True


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """Receivers live on loopback: allowed here, as a deployment with private receivers would allow them."""
    settings.CALLBACK_ALLOW_PRIVATE_URLS = True
    return settings


class Receiver:
    """A loopback HTTP server that records each request (raw body, headers) and answers `fail_status`
    to the first `fail_first` of them, 200 after."""

    def __init__(self):
        self.requests = []
        self.fail_first = 0
        self.fail_status = 503
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.requests.append({"body": body, "headers": dict(self.headers), "path": self.path})
                    status = receiver.fail_status if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="callback-receiver").start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/emma"

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def rotate(team, client=None) -> dict:
    response = (client or team.admin_api).post("/api/tasks/callback-secret")
    assert response.status_code == 201, response.content
    return response.json()


def finished_task(team, committed, *, url, **body) -> AgentTask:
    """A task with a callback, run to success in this process as the worker would; its callback is created
    after the final transition commits (not yet sent)."""
    with committed():
        submitted = team.submit(callback_url=url, **body)
    with committed():
        services.task_execute(task_id=submitted["task_id"])
    return AgentTask.objects.get(pk=submitted["task_id"])


def send_now(delivery: CallbackDelivery) -> str:
    """The due attempt, now: as the worker runs it when the countdown or the sweep publishes it."""
    CallbackDelivery.objects.filter(pk=delivery.pk, status="pending").update(next_attempt_at=timezone.now())
    return callbacks.callback_send(delivery_id=delivery.pk)


# --- through the real worker ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_receiver_failing_twice_gets_three_attempts_one_delivery_one_webhook_id(acme, receiver,
                                                                                  celery_worker_process):
    secret = rotate(acme)["secret"]
    receiver.fail_first = 2
    task_id = acme.submit(callback_url=receiver.url, parameters={"text": "hello"})["task_id"]
    wait_for_status(task_id, "succeeded")
    delivery = wait_for(lambda: CallbackDelivery.objects.filter(task_id=task_id).first(), message="the callback")

    for attempt in (1, 2):  # the retry waits are seconds: the sweep is run as if they had passed
        wait_for(lambda n=attempt: CallbackAttempt.objects.filter(delivery=delivery).count() == n,
                 message=f"attempt {attempt} recorded")
        CallbackDelivery.objects.filter(pk=delivery.pk, status="pending").update(
            next_attempt_at=timezone.now() - timedelta(minutes=1))
        assert callbacks.callbacks_send_due()["published"] in (0, 1)  # 0: the countdown got there first
    wait_for(lambda: CallbackDelivery.objects.get(pk=delivery.pk).status == "delivered", message="delivered")

    requests = receiver.received()
    assert len(requests) == 3
    assert {r["headers"]["webhook-id"] for r in requests} == {str(delivery.pk)}
    for request in requests:
        event = Webhook(secret).verify(request["body"], request["headers"])
        assert event["type"] == "task.succeeded" and event["data"]["task_id"] == task_id
        assert event["data"]["result"] == {"text": "hello"}
    attempts = list(CallbackAttempt.objects.filter(delivery=delivery).values_list("number", "status_code"))
    assert attempts == [(1, 503), (2, 503), (3, 200)]

    shown = acme.submitter_api.get(f"/api/tasks/{task_id}").json()["callback"]
    assert shown["url"] == receiver.url and shown["status"] == "delivered"
    assert shown["webhook_id"] == str(delivery.pk)
    assert [(a["number"], a["status_code"]) for a in shown["attempts"]] == [(1, 503), (2, 503), (3, 200)]


# --- signing and secrets -------------------------------------------------------------------------


def test_after_a_rotation_a_callback_is_signed_with_both_secrets_and_verifies_with_either(acme, receiver, committed):
    first = rotate(acme)
    second = rotate(acme)
    assert first["previous_signs_until"] is None and second["previous_signs_until"]
    assert first["secret"].startswith("whsec_") and first["secret"] != second["secret"]

    delivery = finished_task(acme, committed, url=receiver.url).callback
    assert send_now(delivery) == "delivered"

    request = receiver.received()[0]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (first["secret"], second["secret"]):
        assert Webhook(secret).verify(request["body"], request["headers"])["data"]["status"] == "succeeded"


def test_a_secret_retired_over_a_day_ago_no_longer_signs(acme, receiver, committed):
    old = rotate(acme)["secret"]
    new = rotate(acme)["secret"]
    CallbackSecret.objects.filter(retired_at__isnull=False).update(retired_at=timezone.now() - timedelta(hours=25))

    send_now(finished_task(acme, committed, url=receiver.url).callback)

    request = receiver.received()[0]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request["body"], request["headers"])


def test_the_secret_is_created_on_first_need_and_never_shown_again(acme, receiver, committed):
    send_now(finished_task(acme, committed, url=receiver.url).callback)
    assert receiver.received()[0]["headers"]["webhook-signature"].startswith("v1,")

    task = acme.submitter_api.get(f"/api/tasks/{AgentTask.objects.get().pk}").json()
    assert "whsec_" not in json.dumps(task)


def test_only_the_tenants_admin_rotates_its_secret_and_each_tenant_signs_with_its_own(acme, globex, receiver,
                                                                                   committed):
    for client in (acme.submitter_api, acme.approver_api):
        response = client.post("/api/tasks/callback-secret")
        assert response.status_code == 403, response.content
    assert acme.admin_api.get("/api/tasks/callback-secret").status_code == 405
    ours, theirs = rotate(acme)["secret"], rotate(globex)["secret"]
    assert AuditEvent.objects.filter(tenant_id=acme.tenant_id, action="callback_secret.rotated").count() == 1
    assert "whsec_" not in json.dumps(list(AuditEvent.objects.values("after")))

    send_now(finished_task(acme, committed, url=receiver.url).callback)

    request = receiver.received()[0]
    Webhook(ours).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(theirs).verify(request["body"], request["headers"])


def test_another_tenant_cannot_read_a_tasks_callback(acme, globex, receiver, committed):
    task = finished_task(acme, committed, url=receiver.url)
    send_now(task.callback)

    assert globex.admin_api.get(f"/api/tasks/{task.pk}").status_code == 404
    assert task.pk not in [t["task_id"] for t in globex.admin_api.get("/api/tasks").json()["results"]]
    assert acme.submitter_api.get(f"/api/tasks/{task.pk}").json()["callback"]["status"] == "delivered"


# --- what is sent --------------------------------------------------------------------------------


def test_the_body_is_the_tasks_final_state_and_the_same_on_every_attempt(acme, receiver, committed):
    receiver.fail_first = 1
    task = finished_task(acme, committed, url=receiver.url, parameters={"n": 1}, estimated_cost="2.5")
    assert send_now(task.callback) == "retrying"
    assert send_now(task.callback) == "delivered"

    first, second = receiver.received()
    assert first["body"] == second["body"] and first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    event = json.loads(first["body"])
    assert set(event) == {"type", "timestamp", "data"} and event["type"] == "task.succeeded"
    assert set(event["data"]) == {"task_id", "task_type", "status", "decision", "result", "error", "actual_cost",
                                  "created_at", "finished_at", "correlation_id"}
    assert event["data"]["actual_cost"] == "2.5000" and event["data"]["decision"] == "allow"
    assert event["data"]["correlation_id"] == task.correlation_id
    assert first["path"] == "/hooks/emma" and first["headers"]["Content-Type"] == "application/json"


def test_a_task_rejected_at_submission_gets_its_callback(acme, receiver, committed):
    acme.set_policy(rules={"diagnostic.echo": "deny"})
    with committed():
        body = acme.submit(callback_url=receiver.url)
    assert body["status"] == "rejected"

    assert send_now(CallbackDelivery.objects.get(task_id=body["task_id"])) == "delivered"
    event = json.loads(receiver.received()[0]["body"])
    assert event["type"] == "task.rejected"
    assert event["data"]["status"] == "rejected" and event["data"]["decision"] == "deny"


def test_a_cancelled_task_gets_its_callback_and_a_task_without_url_gets_none(acme, receiver, committed):
    with committed():
        escalated = acme.submit(callback_url=receiver.url, estimated_cost="50")
        plain = acme.submit(estimated_cost="50")
    with committed():
        for body in (escalated, plain):
            assert acme.submitter_api.post(f"/api/tasks/{body['task_id']}/cancel").status_code == 200

    assert CallbackDelivery.objects.get().event_type == "task.cancelled"
    assert acme.submitter_api.get(f"/api/tasks/{plain['task_id']}").json()["callback"] is None


def test_a_callback_waits_while_its_task_runs(acme, receiver):
    body = acme.submit(callback_url=receiver.url)
    shown = acme.submitter_api.get(f"/api/tasks/{body['task_id']}").json()
    assert shown["callback"] == {"webhook_id": None, "url": receiver.url, "status": "waiting",
                                 "next_attempt_at": None, "delivered_at": None, "attempts": []}
    assert shown["callback_url"] == receiver.url


# --- where it may go -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
])
def test_private_callback_urls_are_refused_unless_the_deployment_allows_them(acme, settings, url):
    settings.CALLBACK_ALLOW_PRIVATE_URLS = False
    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "callback_url": url},
                                       format="json")
    assert response.status_code == 400, response.content
    assert "public addresses" in response.json()["error"]["details"]["callback_url"][0]
    assert not AgentTask.objects.exists()


@pytest.mark.parametrize("url, complaint", [
    ("ftp://example.com/hook", "http"),
    ("not a url", "http"),
    ("http:///hook", "http"),
    ("http://user:secret@example.com/hook", "credentials"),
    ("http://example.com:99999/hook", "port"),
    ("http://example.com/" + "a" * 2000, "2000"),
    ("http://[::1/hook", "brackets"),  # urlsplit's ValueError was a 500
])
def test_malformed_callback_urls_are_refused(acme, url, complaint):
    response = acme.submitter_api.post("/api/tasks", {"task_type": "diagnostic.echo", "callback_url": url},
                                       format="json")
    assert response.status_code == 400, response.content
    assert complaint in " ".join(response.json()["error"]["details"]["callback_url"])


def test_public_and_allowed_loopback_callback_urls_are_accepted(acme, settings, receiver):
    settings.CALLBACK_ALLOW_PRIVATE_URLS = False
    # A literal public address: checked without DNS, and nothing is sent (the task is never run here).
    assert acme.submit(callback_url="http://93.184.215.14/hook")["status"] == "queued"
    settings.CALLBACK_ALLOW_PRIVATE_URLS = True
    assert acme.submit(callback_url=receiver.url)["status"] == "queued"


def test_a_name_that_resolves_to_loopback_at_send_time_is_refused_and_nothing_is_sent(acme, receiver, settings,
                                                                                    committed):
    """DNS rebinding: the address is checked again at every send, after the check at submission."""
    task = finished_task(acme, committed, url=f"http://localhost:{receiver.port}/hook")
    settings.CALLBACK_ALLOW_PRIVATE_URLS = False

    assert send_now(task.callback) == "retrying"

    assert receiver.received() == []
    attempt = CallbackAttempt.objects.get()
    assert attempt.number == 1 and attempt.status_code is None
    assert attempt.error.startswith("not sent") and "loopback" in attempt.error
    delivery = CallbackDelivery.objects.get()
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()


# --- retries, the sweep, failures ---------------------------------------------------------------


def test_retries_wait_longer_each_time_and_cover_a_day():
    waits = [callbacks.retry_delay_seconds(n) for n in range(1, 20)]
    for n, wait in enumerate(waits, start=1):
        step = callbacks.RETRY_STEPS[min(n, len(callbacks.RETRY_STEPS)) - 1]
        assert step / 2 <= wait <= step
    # Even at the shortest draw, the steps reach past the retry window within 19 attempts.
    assert sum(callbacks.RETRY_STEPS[min(n, 9) - 1] / 2 for n in range(1, 20)) > 24 * 3600


def test_a_failed_attempt_past_the_retry_window_leaves_the_callback_dead(acme, receiver, committed):
    receiver.fail_first = 100
    delivery = finished_task(acme, committed, url=receiver.url).callback
    assert send_now(delivery) == "retrying"
    retry_at = CallbackDelivery.objects.get().next_attempt_at
    assert retry_at <= timezone.now() + timedelta(seconds=5)
    CallbackDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    assert send_now(delivery) == "dead"

    delivery.refresh_from_db()
    assert delivery.status == "dead" and delivery.next_attempt_at is None
    assert "gave up after 2 attempts" in delivery.last_error and "503" in delivery.last_error
    assert callbacks.callback_send(delivery_id=delivery.pk) == "not-claimed"


def test_a_long_wait_is_left_to_the_sweep_and_the_last_attempt_falls_at_the_window(acme, receiver, committed):
    receiver.fail_first = 100
    delivery = finished_task(acme, committed, url=receiver.url).callback
    CallbackDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(hours=23, minutes=59), attempt_count=8)
    CallbackAttempt.objects.bulk_create(CallbackAttempt(delivery=delivery, number=n, attempted_at=timezone.now(),
                                                        status_code=503) for n in range(1, 9))

    assert send_now(delivery) == "retrying"

    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= delivery.created_at + callbacks.RETRY_WINDOW


def test_the_sweep_settles_a_sender_that_died_as_a_failed_attempt_and_schedules_the_next(acme, receiver, committed):
    delivery = finished_task(acme, committed, url=receiver.url).callback
    # A sender claimed attempt 1 and died: the row stays `sending` past its lease.
    CallbackDelivery.objects.filter(pk=delivery.pk).update(status="sending", attempt_count=1,
                                                           lease_until=timezone.now() - timedelta(seconds=1))

    assert callbacks.callbacks_send_due()["lost_senders"] == 1

    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()
    lost = CallbackAttempt.objects.get()
    assert lost.number == 1 and lost.status_code is None and "lease ran out" in lost.error
    assert send_now(delivery) == "delivered"
    assert list(CallbackAttempt.objects.values_list("number", "status_code")) == [(1, None), (2, 200)]
    assert len(receiver.received()) == 1


def test_a_sender_whose_lease_was_settled_records_nothing_more(acme, receiver, committed):
    delivery = finished_task(acme, committed, url=receiver.url).callback
    CallbackDelivery.objects.filter(pk=delivery.pk).update(status="sending", attempt_count=1)
    delivery.refresh_from_db()
    callbacks._settle(delivery, number=1, attempted_at=timezone.now(), status_code=None, error="lost",
                      duration_ms=None)  # the sweep, first

    assert callbacks._settle(delivery, number=1, attempted_at=timezone.now(), status_code=200, error="",
                             duration_ms=5) == "lease-lost"
    assert CallbackAttempt.objects.count() == 1


def test_the_sweep_publishes_due_callbacks_and_creates_those_whose_hook_was_lost(acme, receiver, committed):
    with committed():
        submitted = acme.submit(callback_url=receiver.url)
    services.task_execute(task_id=submitted["task_id"])  # its commit hook never runs: the process "died"
    assert not CallbackDelivery.objects.exists()
    AgentTask.objects.filter(pk=submitted["task_id"]).update(finished_at=timezone.now() - timedelta(minutes=1))
    due = finished_task(acme, committed, url=receiver.url).callback
    CallbackDelivery.objects.filter(pk=due.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))

    figures = callbacks.callbacks_send_due()

    assert figures["created"] == 1 and figures["published"] == 1
    assert CallbackDelivery.objects.filter(task_id=submitted["task_id"]).exists()
    assert callbacks.callbacks_send_due()["created"] == 0


def test_a_failing_callback_hook_never_fails_the_tasks_transition(acme, receiver, committed, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("the callback table is on fire")

    with committed():
        body = acme.submit(callback_url=receiver.url, estimated_cost="50")
    monkeypatch.setattr(callbacks, "callback_delivery_create", broken)
    with caplog.at_level(logging.ERROR, logger="emma.callbacks"), committed():
        response = acme.submitter_api.post(f"/api/tasks/{body['task_id']}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert AgentTask.objects.get(pk=body["task_id"]).status == "cancelled"
    assert "could not create the completion callback" in caplog.text
    assert not CallbackDelivery.objects.exists()


def test_an_unreachable_receiver_is_a_failed_attempt(acme, receiver, committed):
    delivery = finished_task(acme, committed, url=receiver.url).callback
    receiver.server.shutdown()
    receiver.server.server_close()

    assert send_now(delivery) == "retrying"

    attempt = CallbackAttempt.objects.get()
    assert attempt.status_code is None and "ConnectError" in attempt.error


# --- admin and retention -------------------------------------------------------------------------


def test_the_admin_shows_the_callback_on_the_task_and_scopes_deliveries_to_the_tenant(acme, globex, receiver,
                                                                                    committed, client):
    ours = finished_task(acme, committed, url=receiver.url)
    send_now(ours.callback)
    theirs = finished_task(globex, committed, url=receiver.url)

    client.force_login(acme.admin)
    page = client.get(f"/admin/emma/agenttask/{ours.pk}/change/")
    assert page.status_code == 200
    assert str(ours.callback.pk) in page.content.decode() and "delivered" in page.content.decode()
    listed = client.get("/admin/emma/callbackdelivery/")
    assert [d.pk for d in listed.context["cl"].result_list] == [ours.callback.pk]
    detail = client.get(f"/admin/emma/callbackdelivery/{ours.callback.pk}/change/")
    assert detail.status_code == 200 and "task.succeeded" in detail.content.decode()
    assert client.get(f"/admin/emma/callbackdelivery/{theirs.callback.pk}/change/").status_code in (302, 404)
    client.force_login(acme.submitter)
    assert client.get("/admin/emma/callbackdelivery/").status_code in (302, 403)


def test_retention_prunes_the_attempts_of_settled_callbacks_only(acme, receiver, committed):
    delivered = finished_task(acme, committed, url=receiver.url).callback
    send_now(delivered)
    receiver.fail_first = 100
    pending = finished_task(acme, committed, url=receiver.url).callback
    send_now(pending)
    CallbackAttempt.objects.update(attempted_at=timezone.now() - timedelta(days=1))

    call_command("prune_logs", days=0)

    assert list(CallbackAttempt.objects.values_list("delivery_id", flat=True)) == [pending.pk]
    assert CallbackDelivery.objects.count() == 2
