from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Tenants and accounts"

    def ready(self):
        from core import observability

        observability.connect_celery_signals()
