import importlib
from pathlib import Path

from django.apps import AppConfig

# Each provider's folder has an inbound module that registers its webhook declaration when imported
# (integrations.providers); settings.WEBHOOK_PROVIDERS switches each one.
PROVIDER_FOLDERS = sorted(path.parent.name for path in Path(__file__).parent.glob("*/inbound.py"))


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from core import health
        from core.configuration import register_document
        from core.metrics import register_scrape_time_collector
        from core.registries import register_periodic_job
        from emma import hooks as emma_hooks
        from governance import hooks
        from integrations import approvals, chat_runs, configuration, home, retention
        from integrations import task_types  # noqa: F401  (registers its own)
        from integrations.github import tools  # noqa: F401  (registers the github.* tools)
        from integrations.github import runs as github_runs
        from integrations.health import breakers_check
        from integrations.metrics import integrations_collector
        from integrations.tasks import PERIODIC_JOBS
        from integrations.dora import admin as dora_admin
        from integrations.dora.metrics import dora_collector
        from integrations.dora.tasks import PERIODIC_JOBS as DORA_PERIODIC_JOBS

        register_document(configuration.document())
        for folder in PROVIDER_FOLDERS:
            importlib.import_module(f"integrations.{folder}.inbound")
        hooks.register_on_escalation_opened(approvals.on_escalation_opened)
        hooks.register_on_escalation_closed(approvals.on_escalation_closed)
        hooks.register_on_escalation_voted(approvals.on_escalation_voted)
        hooks.register_on_escalation_reminder(approvals.on_escalation_reminder)
        hooks.register_on_delegation_started(approvals.on_delegation_started)
        hooks.register_on_escalation_opened(chat_runs.on_escalation_opened)
        emma_hooks.register_on_task_finished(chat_runs.on_task_finished)
        emma_hooks.register_on_task_finished(github_runs.on_task_finished)
        retention.register()
        from core.registries import register_port
        from integrations.ports import PORTS

        for name, function in PORTS.items():
            register_port(name, function)
        home.register()
        # /health and /metrics belong to core, which this app registers its parts with.
        health.register_check("integrations", breakers_check)
        register_scrape_time_collector(integrations_collector)
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
        register_scrape_time_collector(dora_collector)
        for job in DORA_PERIODIC_JOBS:
            register_periodic_job(job)
        dora_admin.register()
