from django.contrib import admin

from core.admin import TenantReadOnlyAdmin, as_text, pretty_json
from emma.models import AgentRunStep, AgentTask, TaskEvent


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


class AgentRunStepInline(admin.TabularInline):
    """An agent run's transcript: each model turn, each tool call with its decision and what the model
    was told, and what each turn cost."""

    model = AgentRunStep
    verbose_name, verbose_name_plural = "step", "agent run transcript"
    fields = readonly_fields = ["seq", "kind", "said", "tool", "arguments_json", "decision", "status", "told",
                                "tokens", "cost"]
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="the model said")
    def said(self, step):
        return step.text

    @admin.display(description="arguments")
    def arguments_json(self, step):
        if step.kind != AgentRunStep.Kind.TOOL:
            return ""
        edited = step.arguments != step.requested_arguments
        return pretty_json({"asked": step.requested_arguments, "ran with": step.arguments} if edited
                           else step.arguments)

    @admin.display(description="the model was told")
    def told(self, step):
        return step.content

    @admin.display(description="tokens in / out")
    def tokens(self, step):
        return f"{step.input_tokens} / {step.output_tokens}" if step.kind == AgentRunStep.Kind.MODEL else ""


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
    inlines = [AgentRunStepInline, TaskEventInline]

    @admin.display(description="parameters")
    def parameters_json(self, task):
        return pretty_json(task.parameters)
