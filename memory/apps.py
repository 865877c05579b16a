from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self):
        from core.metrics import register_scrape_time_collector
        from memory import checks  # noqa: F401  (registers the start-up check)
        from memory.metrics import memory_items_collector

        register_scrape_time_collector(memory_items_collector)
