from django.db.models import OuterRef, QuerySet, Subquery

from core.selectors import membership_for_user
from emma.models import AgentTask
from governance.models import Escalation


def tasks_for_user(user, *, status: str | None = None, task_type: str | None = None) -> QuerySet[AgentTask]:
    """The tasks of the caller's tenant, newest first, optionally filtered."""
    latest_escalation = Escalation.objects.filter(task_id=OuterRef("pk")).order_by("-created_at").values("pk")[:1]
    # The task's current (or last) escalation in the same query: a list never asks once per row.
    tasks = (AgentTask.objects.for_tenant(membership_for_user(user).tenant_id).select_related("submitter")
             .annotate(escalation_id=Subquery(latest_escalation)))
    if status:
        tasks = tasks.filter(status=status)
    if task_type:
        tasks = tasks.filter(task_type=task_type)
    return tasks.order_by("-created_at")
