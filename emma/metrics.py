"""Task metrics: submissions, run times, the auto/human split and publish failures, counted where they
happen; tasks by status, read from PostgreSQL at scrape time (core.metrics serves them)."""

from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

TASKS_SUBMITTED = Counter("emma_tasks_submitted_total", "Agent tasks submitted, by type and decision.",
                          ["task_type", "decision"])
TASK_DURATION = Histogram("emma_task_duration_seconds", "Agent task handler run time.", ["task_type"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
WORKFLOWS = Counter("emma_workflows_auto_vs_hitl_total",
                    "Tasks that went to run: straight away (auto) or after a human approved (hitl).", ["path"])
PUBLISH_FAILURES = Counter("emma_task_publish_failures_total",
                           "Task messages that could not be published (the sweep publishes them later).")

_IN_STATUS = ("emma_tasks_in_status", "Agent tasks by current status.")


class TasksInStatusCollector:
    def describe(self):
        # Named here so registering the collector never queries the database.
        yield GaugeMetricFamily(*_IN_STATUS, labels=["status"])

    def collect(self):
        from emma.models import AgentTask

        gauge = GaugeMetricFamily(*_IN_STATUS, labels=["status"])
        counts = dict(AgentTask.objects.order_by().values_list("status").annotate(n=Count("pk")))
        for status in AgentTask.Status.values:
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge


tasks_in_status_collector = TasksInStatusCollector()
