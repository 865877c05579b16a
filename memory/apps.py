from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self):
        from memory import checks, metrics  # noqa: F401  (registers the start-up check and the item gauge)
