"""What of Emma's core and memory the retention job prunes. Other apps register theirs in their
`AppConfig.ready` (see emma.maintenance.retention)."""

from django.db.models import Max

from emma.maintenance.retention import register_prunable
from emma.models import AgentTask, MaintenanceRun, TaskEvent
from memory.models import EpisodicEvent


def _finished_task_events():
    """Status history of tasks that have finished; a task still open keeps all of its history."""
    return TaskEvent.objects.filter(task__status__in=AgentTask.FINAL_STATUSES)


def _old_maintenance_runs():
    """Maintenance runs, except each job's last success (it feeds emma_maintenance_last_success_timestamp)."""
    last_successes = (MaintenanceRun.objects.filter(outcome=MaintenanceRun.Outcome.SUCCESS).values("job")
                      .annotate(last=Max("pk")).values("last"))
    return MaintenanceRun.objects.exclude(outcome=MaintenanceRun.Outcome.RUNNING).exclude(pk__in=last_successes)


register_prunable("emma.task_event", _finished_task_events, "created_at")
register_prunable("emma.maintenance_run", _old_maintenance_runs, "started_at")
register_prunable("memory.episodic_event", lambda: EpisodicEvent.objects.all(), "occurred_at")
