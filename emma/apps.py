from django.apps import AppConfig


class EmmaConfig(AppConfig):
    name = "emma"
    verbose_name = "Emma"

    def ready(self):
        from emma import observability

        observability.connect_celery_signals()
