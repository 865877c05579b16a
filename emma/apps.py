from django.apps import AppConfig


class EmmaConfig(AppConfig):
    name = "emma"
    verbose_name = "Emma"

    def ready(self):
        from core.metrics import register_scrape_time_collector
        from emma import task_types  # noqa: F401  (registers the built-in task types)
        from emma.maintenance.metrics import maintenance_collector
        from emma.metrics import tasks_in_status_collector
        from emma.services import task_history, task_on_escalation_closed
        from governance import hooks

        hooks.register_on_escalation_closed(task_on_escalation_closed)
        hooks.register_task_history(task_history)
        register_scrape_time_collector(tasks_in_status_collector)
        register_scrape_time_collector(maintenance_collector)
