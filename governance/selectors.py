from django.db.models import QuerySet

from governance.models import AuditEvent, Escalation, PolicyVersion
from governance.policy import default_policy


def policy_current(*, tenant_id: int) -> tuple[dict, int]:
    """The policy in force and its version (0: the defaults, never saved)."""
    latest = PolicyVersion.objects.filter(tenant_id=tenant_id).order_by("-version").first()
    if latest is None:
        return default_policy(), 0
    return {**default_policy(), **latest.document}, latest.version


def policy_versions(*, tenant_id: int) -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(tenant_id=tenant_id).select_related("author").order_by("-version")


def escalations_active(*, tenant_id: int) -> QuerySet[Escalation]:
    return Escalation.objects.filter(tenant_id=tenant_id, status=Escalation.Status.OPEN).select_related(
        "requester").order_by("deadline")


def escalation_for_task(*, task_id) -> Escalation | None:
    """The task's latest escalation (the open one, while one is open)."""
    return Escalation.objects.filter(task_id=task_id).order_by("-created_at").first()


def escalations_of_task(*, tenant_id: int, task_id) -> QuerySet[Escalation]:
    return Escalation.objects.filter(tenant_id=tenant_id, task_id=task_id).order_by("created_at")


def audit_events(*, tenant_id: int, action: str | None = None, object_id: str | None = None,
                 actor: str | None = None, since=None, until=None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("-seq")
    if action:
        events = events.filter(action=action)
    if object_id:
        events = events.filter(object_id=object_id)
    if actor:
        events = events.filter(actor=actor)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events
