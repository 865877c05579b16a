from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from core import health
        from core.metrics import register_scrape_time_collector
        from core.registries import register_periodic_job
        from governance import hooks
        from integrations import approvals, retention, task_types  # noqa: F401  (task_types registers its own)
        # Each provider registers its webhook declaration when imported (integrations.providers).
        from integrations.github import inbound as github  # noqa: F401
        from integrations.jira import inbound as jira  # noqa: F401
        from integrations.sentry import inbound as sentry  # noqa: F401
        from integrations.slack import inbound as slack  # noqa: F401
        from integrations.twilio import inbound as twilio  # noqa: F401
        from integrations.waba import inbound as waba  # noqa: F401
        from integrations.health import breakers_check
        from integrations.metrics import integrations_collector
        from integrations.tasks import PERIODIC_JOBS

        hooks.register_on_escalation_opened(approvals.on_escalation_opened)
        hooks.register_on_escalation_closed(approvals.on_escalation_closed)
        retention.register()
        # /health and /metrics belong to core, which this app registers its parts with.
        health.register_check("integrations", breakers_check)
        register_scrape_time_collector(integrations_collector)
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
