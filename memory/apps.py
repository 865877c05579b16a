from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self):
        from core import registries
        from core.metrics import register_scrape_time_collector
        from memory import checks, services  # noqa: F401  (checks registers the start-up check)
        from memory.metrics import memory_items_collector
        from memory.models import EpisodicEvent
        from memory.tasks import PERIODIC_JOBS

        register_scrape_time_collector(memory_items_collector)
        registries.register_prunable("memory.episodic_event", lambda: EpisodicEvent.objects.all(), "occurred_at")
        registries.register_maintenance_job(
            "prune_expired_memories", lambda figures: figures.update(memory_items=services.memory_prune_expired()))
        for job in PERIODIC_JOBS:
            registries.register_periodic_job(job)
