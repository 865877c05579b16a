from django.apps import AppConfig


class EmmaConfig(AppConfig):
    name = "emma"
    verbose_name = "Emma"

    def ready(self):
        from emma import observability, task_types  # noqa: F401  (registers the built-in task types)
        from emma.services import task_on_escalation_decided
        from governance import hooks

        observability.connect_celery_signals()
        hooks.register_on_escalation_decided(task_on_escalation_decided)
