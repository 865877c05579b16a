"""Emma's panels of the admin's home page: a tenant's tasks over the last 24 hours (for its admins),
and each person's own recent tasks."""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone

from core.charts import bar_chart
from core.models import Membership
from core.registries import HomePanel, register_home_panel
from emma.models import AgentTask

SHOWN = 8


def tasks_last_24_hours(request, membership):
    now = timezone.now()
    since = now - timedelta(hours=24)
    tasks = AgentTask.objects.filter(tenant_id=membership.tenant_id, created_at__gte=since)
    by_status = dict(tasks.values_list("status").annotate(count=Count("pk")).order_by())
    per_hour = dict(tasks.annotate(hour=TruncHour("created_at")).values_list("hour").annotate(count=Count("pk"))
                    .order_by())
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [first + timedelta(hours=n) for n in range(24)]
    changelist = reverse("admin:emma_agenttask_changelist")
    return {"total": sum(by_status.values()),
            "by_status": [{"status": status, "count": by_status[status], "url": f"{changelist}?status__exact={status}"}
                          for status in AgentTask.Status.values if by_status.get(status)],
            "chart": bar_chart([(f"{hour:%H:00}", per_hour.get(hour, 0)) for hour in hours],
                               title="Tasks per hour, last 24 hours (UTC)"),
            "tasks_url": changelist}


def your_recent_tasks(request, membership):
    tasks = (AgentTask.objects.filter(tenant_id=membership.tenant_id, submitter=request.user)
             .only("id", "task_type", "description", "status", "created_at").order_by("-created_at")[:SHOWN])
    rows = [{"task": task, "url": reverse("admin:emma_agenttask_change", args=[task.pk])} for task in tasks]
    if not rows and membership.role != Membership.Role.SUBMITTER:
        return None  # an approver who submits nothing needs no empty panel
    return {"rows": rows, "tasks_url": reverse("admin:emma_agenttask_changelist")}


def register():
    register_home_panel(HomePanel("tasks_24h", "admin/emma/home/tasks_24h.html", tasks_last_24_hours,
                                  (Membership.Role.ADMIN,), order=50))
    register_home_panel(HomePanel("your_tasks", "admin/emma/home/your_tasks.html", your_recent_tasks,
                                  tuple(Membership.Role.values), order=80))
