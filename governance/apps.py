from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"

    def ready(self):
        from core.metrics import register_scrape_time_collector
        from core.registries import register_periodic_job
        from governance import home
        from governance.metrics import open_escalations_collector
        from governance.tasks import PERIODIC_JOBS

        register_scrape_time_collector(open_escalations_collector)
        home.register()
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
