"""Inbound webhooks: no JWT, each endpoint verifies its provider's signature (docs/INTEGRATIONS.md)."""

from django.urls import path

from integrations.github.inbound import GithubView
from integrations.jira.inbound import JiraView
from integrations.sentry.inbound import SentryView
from integrations.slack.inbound import CommandsView, EventsView, InteractionsView
from integrations.twilio.inbound import SmsView
from integrations.waba.inbound import MessagesView

urlpatterns = [
    path("slack/events", EventsView.as_view(), name="webhook-slack-events"),
    path("slack/commands", CommandsView.as_view(), name="webhook-slack-commands"),
    path("slack/interactions", InteractionsView.as_view(), name="webhook-slack-interactions"),
    path("twilio/sms", SmsView.as_view(), name="webhook-twilio-sms"),
    path("waba/messages", MessagesView.as_view(), name="webhook-waba-messages"),
    path("github", GithubView.as_view(), name="webhook-github"),
    path("jira", JiraView.as_view(), name="webhook-jira"),
    path("sentry", SentryView.as_view(), name="webhook-sentry"),
]
