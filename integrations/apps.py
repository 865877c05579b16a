from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from emma import health, metrics
        from emma.task_types import messaging  # noqa: F401  (registers message.send, notify, assistant.request)
        from governance import hooks
        from integrations import approvals, outbound, retention
        # Each provider registers its webhook declaration when imported (integrations.providers).
        from integrations.github import inbound as github  # noqa: F401
        from integrations.jira import inbound as jira  # noqa: F401
        from integrations.sentry import inbound as sentry  # noqa: F401
        from integrations.slack import inbound as slack  # noqa: F401
        from integrations.twilio import inbound as twilio  # noqa: F401
        from integrations.waba import inbound as waba  # noqa: F401
        from integrations.health import breakers_check
        from integrations.metrics import integrations_collector

        messaging.register_outbox(outbound.TaskOutbox())
        hooks.register_on_escalation_opened(approvals.on_escalation_opened)
        hooks.register_on_escalation_decided(approvals.on_escalation_decided)
        retention.register()
        # /health and /metrics belong to emma, below this app, which registers its parts with them.
        health.register_check("integrations", breakers_check)
        metrics.register_scrape_time_collector(integrations_collector)
