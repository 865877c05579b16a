from django.contrib import admin

from core.admin import TenantReadOnlyAdmin, as_text, pretty_json
from emma.models import AgentTask, TaskEvent


class TaskEventInline(admin.TabularInline):
    """The task's status history, read-only; the task's own admin decides who sees it."""

    model = TaskEvent
    fields = readonly_fields = ["created_at", "from_status", "to_status", "actor", "note"]
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AgentTask)
class AgentTaskAdmin(TenantReadOnlyAdmin):
    list_display = ["task_type", "status", "decision", "risk", "estimated_cost", "submitter", "created_at"]
    list_filter = ["status", "task_type", "decision"]
    list_select_related = ["submitter"]
    search_fields = ["id", "task_type", "description", "submitter__username"]
    date_hierarchy = "created_at"
    fields = readonly_fields = [
        "id", "task_type", "description", "parameters_json", "status", "decision", "decision_reasons", "risk",
        "estimated_cost", "actual_cost", "priority", as_text("submitter"), "channel", "policy_version", "attempts",
        "result", "error", "correlation_id", "created_at", "queued_at", "started_at", "finished_at"]
    inlines = [TaskEventInline]

    @admin.display(description="parameters")
    def parameters_json(self, task):
        return pretty_json(task.parameters)
