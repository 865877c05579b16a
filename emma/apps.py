from django.apps import AppConfig


class EmmaConfig(AppConfig):
    name = "emma"
    verbose_name = "Emma"

    def ready(self):
        from core import registries
        from core.configuration import register_document
        from core.metrics import register_scrape_time_collector
        from emma import callbacks, configuration, home, registry, task_types  # noqa: F401  (task_types registers the built-in types)
        from emma import hooks as task_hooks
        from emma.metrics import tasks_in_status_collector
        from emma.models import AgentTask, CallbackAttempt, CallbackDelivery, TaskEvent
        from emma.services import run_transcript, task_history, task_on_escalation_closed
        from emma.tasks import PERIODIC_JOBS
        from governance import hooks

        register_document(configuration.document())
        hooks.register_on_escalation_closed(task_on_escalation_closed)
        task_hooks.register_on_task_finished(callbacks.on_task_finished)
        hooks.register_task_history(task_history)
        hooks.register_run_transcript(run_transcript)
        register_scrape_time_collector(tasks_in_status_collector)
        home.register()
        # The status history of finished tasks (their outcome is kept in the audit chain); an open
        # task keeps all of its history.
        registries.register_prunable(
            "emma.task_event", lambda: TaskEvent.objects.filter(task__status__in=AgentTask.FINAL_STATUSES),
            "created_at")
        # The attempts of callbacks that are settled (delivered or dead); the delivery row stays.
        registries.register_prunable(
            "emma.callback_attempt",
            lambda: CallbackAttempt.objects.filter(
                delivery__status__in=(CallbackDelivery.Status.DELIVERED, CallbackDelivery.Status.DEAD)),
            "attempted_at")
        for job in PERIODIC_JOBS:
            registries.register_periodic_job(job)
        # What an API key may be limited to (core.services.api_key_create checks the names).
        registries.register_task_type_names(lambda: {spec.name for spec in registry.all_types()})
