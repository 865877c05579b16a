from django.db.models import QuerySet
from rest_framework.exceptions import PermissionDenied

from emma.models import AgentTask, Membership


def membership_for_user(user) -> Membership:
    """The caller's membership; a user who belongs to no tenant may use no tenant data."""
    try:
        return user.membership  # cached on the user object: one query per request
    except Membership.DoesNotExist:
        raise PermissionDenied("Your account belongs to no tenant; ask an admin to add you to one.")


def tasks_for_user(user, *, status: str | None = None, task_type: str | None = None) -> QuerySet[AgentTask]:
    """The tasks of the caller's tenant, newest first, optionally filtered."""
    tasks = AgentTask.objects.for_tenant(membership_for_user(user).tenant_id).select_related("submitter")
    if status:
        tasks = tasks.filter(status=status)
    if task_type:
        tasks = tasks.filter(task_type=task_type)
    return tasks.order_by("-created_at")
