from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"

    def ready(self):
        from core.audit import register_recorder
        from core.metrics import register_scrape_time_collector
        from core.registries import register_periodic_job
        from governance import home
        from governance.audit import audit_record
        from governance.metrics import open_escalations_collector
        from governance.tasks import PERIODIC_JOBS

        register_scrape_time_collector(open_escalations_collector)
        home.register()
        register_recorder(audit_record)
        for job in PERIODIC_JOBS:
            register_periodic_job(job)
