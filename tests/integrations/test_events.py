"""GitHub, Jira and Sentry events: stored, remembered as episodes, and matched against the tenant's
routing rules; a match submits a `notify` task that posts the event's summary where the rule says."""

import pytest

from emma import services as emma_services
from emma.models import AgentTask
from integrations.models import RoutingRule, WebhookDelivery
from integrations.selectors import rule_matches
from memory.models import EpisodicEvent
from tests.integrations.conftest import (
    deliver_outbox,
    failed_workflow_run,
    jira_issue_created,
    process_deliveries,
    sentry_issue_alert,
)

pytestmark = pytest.mark.django_db


def rule(team, **fields):
    defaults = {"tenant_id": team.tenant_id, "name": "alerts", "provider": "sentry", "event_type": "event_alert",
                "match": {}, "channel": "slack", "to": "C0ALERTS", "run_as": team.admin}
    return RoutingRule.objects.create(**{**defaults, **fields})


def test_sentry_issue_alert_notifies_the_configured_slack_channel(acme, webhooks, fake_vendors):
    rule(acme, match={"action": "triggered"})
    assert webhooks.sentry("event_alert", sentry_issue_alert(), tenant="acme").status_code == 200
    assert process_deliveries() == ["processed"]
    task = AgentTask.objects.get(task_type="notify")
    assert task.decision == "allow" and task.submitter == acme.admin and task.channel == "sentry"
    emma_services.task_execute(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == "succeeded" and task.result["status"] == "sent"
    post = fake_vendors.slack.delivered("chat.postMessage")[0]["body"]
    assert post["channel"] == "C0ALERTS"
    assert post["text"] == "Sentry alert “Page the on-call”: ZeroDivisionError: division by zero"


def test_every_event_becomes_an_episode_even_without_a_rule(acme, webhooks):
    webhooks.jira(jira_issue_created(), tenant="acme")
    process_deliveries()
    episode = EpisodicEvent.objects.get()
    assert (episode.kind, episode.source, episode.actor) == ("inbound_message", "jira", "Dana")
    assert episode.content == "Jira: SHOP-7 created: Checkout fails for EU cards (To Do) by Dana"
    assert episode.metadata["url"] == "https://acme.atlassian.net/browse/SHOP-7"
    assert not AgentTask.objects.exists()


def test_only_matching_rules_of_the_events_tenant_fire(acme, globex, webhooks):
    rule(acme, provider="github", event_type="workflow_run", match={"workflow_run.conclusion": "failure"})
    rule(acme, name="pushes", provider="github", event_type="push")
    rule(globex, provider="github", event_type="workflow_run", match={})
    webhooks.github("workflow_run", failed_workflow_run(), tenant="acme")
    passing = failed_workflow_run()
    passing["workflow_run"]["conclusion"] = "success"
    webhooks.github("workflow_run", passing, tenant="acme")
    process_deliveries()
    notify = AgentTask.objects.get(task_type="notify")
    assert notify.tenant_id == acme.tenant_id
    assert notify.parameters["text"] == "GitHub: workflow “CI” failure on main in acme/shop (run #42)"


def test_an_event_without_a_tenant_is_kept_but_ignored(acme, globex, webhooks):
    webhooks.github("workflow_run", failed_workflow_run())  # two tenants, no ?tenant=
    assert process_deliveries() == ["ignored"]
    assert "?tenant=" in WebhookDelivery.objects.get().error
    webhooks.github("workflow_run", failed_workflow_run(), tenant="nope")
    assert process_deliveries() == ["ignored"]


def test_the_only_tenant_is_the_default(acme, webhooks):
    webhooks.github("issues", {"action": "opened", "issue": {"number": 3, "title": "Flaky test", "html_url": "u"},
                               "repository": {"full_name": "acme/shop"}})
    assert process_deliveries() == ["processed"]
    assert EpisodicEvent.objects.get().content == "GitHub: issue #3 opened in acme/shop: Flaky test"


def test_github_ping_is_acknowledged_and_ignored(acme, webhooks):
    webhooks.github("ping", {"zen": "Keep it logically awesome."})
    assert process_deliveries() == ["ignored"]


def test_notify_names_only_rules_of_its_own_tenant(acme, globex):
    theirs = rule(globex)
    body = acme.submit(task_type="notify", parameters={"rule_id": theirs.pk, "text": "hello"})
    emma_services.task_execute(task_id=body["task_id"])
    task = AgentTask.objects.get(pk=body["task_id"])
    assert task.status == "failed" and "does not exist in this tenant" in task.error


def test_rule_matching():
    r = RoutingRule(event_type="issue", match={"action": ["created", "resolved"], "data.issue.level": "error"})
    assert rule_matches(r, "issue", {"action": "resolved", "data": {"issue": {"level": "error"}}})
    assert not rule_matches(r, "issue", {"action": "ignored", "data": {"issue": {"level": "error"}}})
    assert not rule_matches(r, "issue", {"action": "created"})
    assert not rule_matches(r, "event_alert", {"action": "created", "data": {"issue": {"level": "error"}}})
    assert rule_matches(RoutingRule(event_type="", match={}), "anything", {})


def test_a_failed_notification_post_is_retried_by_the_outbox(acme, webhooks, fake_vendors):
    rule(acme)
    fake_vendors.slack.fail(times=1)
    webhooks.sentry("event_alert", sentry_issue_alert(), tenant="acme")
    process_deliveries()
    task = AgentTask.objects.get(task_type="notify")
    emma_services.task_execute(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == "succeeded" and task.result["status"] == "queued"  # the outbox retries it
    from integrations.models import OutboundMessage

    OutboundMessage.objects.update(next_attempt_at=task.created_at)
    assert deliver_outbox() == ["sent"]
