from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"

    def ready(self):
        from core.metrics import register_scrape_time_collector
        from governance.metrics import open_escalations_collector

        register_scrape_time_collector(open_escalations_collector)
