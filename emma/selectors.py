from django.db.models import OuterRef, QuerySet, Subquery
from rest_framework.exceptions import PermissionDenied

from emma.models import AgentTask, Membership
from governance.models import Escalation


def membership_for_user(user) -> Membership:
    """The caller's membership; a user who belongs to no tenant may use no tenant data."""
    try:
        return user.membership  # cached on the user object: one query per request
    except Membership.DoesNotExist:
        raise PermissionDenied("Your account belongs to no tenant; ask an admin to add you to one.")


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
