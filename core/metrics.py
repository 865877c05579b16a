"""/metrics: this process's metrics (or, in multiprocess mode, every gunicorn and Celery process's,
summed) plus the gauges each app reads from PostgreSQL at scrape time, registered at start-up."""

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

_SCRAPE_TIME_COLLECTORS: list = []


def _multiprocess() -> bool:
    return bool(settings.PROMETHEUS_MULTIPROC_DIR)


def register_scrape_time_collector(collector) -> None:
    """A collector whose gauges are read when /metrics is scraped (right whichever process serves it).
    Registered once, in the owning app's AppConfig.ready."""
    if collector in _SCRAPE_TIME_COLLECTORS:
        return
    _SCRAPE_TIME_COLLECTORS.append(collector)
    if not _multiprocess():
        REGISTRY.register(collector)


@require_GET  # a scrape reads; any other method is a 405, as on the probes
def metrics_view(request):
    registry = REGISTRY
    if _multiprocess():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _SCRAPE_TIME_COLLECTORS:
            registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
