"""Datadog webhooks: monitor alerts and incidents."""
