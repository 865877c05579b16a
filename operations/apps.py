from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from core import registries
        from core.metrics import register_scrape_time_collector
        from operations import home
        from operations.metrics import maintenance_collector
        from operations.retention import old_maintenance_runs
        from operations.tasks import PERIODIC_JOBS

        register_scrape_time_collector(maintenance_collector)
        home.register()
        registries.register_prunable("operations.maintenance_run", old_maintenance_runs, "started_at")
        for job in PERIODIC_JOBS:
            registries.register_periodic_job(job)
