import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import TenantReadOnlyAdmin, as_text, membership_of, pretty_json
from core.models import Membership
from emma.models import AgentRunStep, AgentTask, CallbackAttempt, CallbackDelivery, TaskEvent


class ReadOnlyInline(admin.TabularInline):
    """Rows shown with their parent, read-only; the parent's admin decides who sees them."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TaskEventInline(ReadOnlyInline):
    """The task's status history."""

    model = TaskEvent
    fields = readonly_fields = ["created_at", "from_status", "to_status", "actor", "note"]


def attempts_table(delivery: CallbackDelivery) -> str:
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (a.number, a.attempted_at, a.status_code or "", a.error, "" if a.duration_ms is None else f"{a.duration_ms} ms")
        for a in delivery.attempts.all()))
    return format_html('<table><tr><th>#</th><th>at</th><th>status</th><th>error</th><th>took</th></tr>{}</table>',
                       rows) if rows else "none yet"


class CallbackDeliveryInline(ReadOnlyInline):
    """The task's completion callback and its attempts (nothing until the task has finished)."""

    model = CallbackDelivery
    fields = readonly_fields = ["delivery_link", "url", "status", "next_attempt_at", "delivered_at", "last_error",
                                "attempts_list"]
    verbose_name = verbose_name_plural = "completion callback"

    @admin.display(description="webhook id")
    def delivery_link(self, delivery):
        return format_html('<a href="{}">{}</a>', reverse("admin:emma_callbackdelivery_change", args=[delivery.pk]),
                           delivery.pk)

    @admin.display(description="attempts")
    def attempts_list(self, delivery):
        return attempts_table(delivery)


class AgentRunStepInline(ReadOnlyInline):
    """An agent run's transcript: each model turn, each tool call with its decision and what the model
    was told, and what each turn cost."""

    model = AgentRunStep
    verbose_name, verbose_name_plural = "step", "agent run transcript"
    fields = readonly_fields = ["seq", "kind", "said", "tool", "arguments_json", "decision", "status", "told",
                                "tokens", "cost"]
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
    """The tenant's tasks for approvers and admins; a submitter sees their own."""

    roles = tuple(Membership.Role.values)
    list_display = ["task_type", "status", "decision", "risk", "estimated_cost", "submitter", "created_at"]
    list_filter = ["status", "task_type", "decision"]
    list_select_related = ["submitter"]
    search_fields = ["id", "task_type", "description", "submitter__username"]
    date_hierarchy = "created_at"
    fields = readonly_fields = [
        "id", "task_type", "description", "parameters_json", "status", "decision", "decision_reasons", "risk",
        "estimated_cost", "actual_cost", "priority", as_text("submitter"), "channel", "policy_version", "attempts",
        "result", "error", "correlation_id", "callback_url", "created_at", "queued_at", "started_at", "finished_at"]
    inlines = [AgentRunStepInline, TaskEventInline, CallbackDeliveryInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        membership = membership_of(request)
        if not request.user.is_superuser and membership and membership.role == Membership.Role.SUBMITTER:
            return queryset.filter(submitter=request.user)
        return queryset

    @admin.display(description="parameters")
    def parameters_json(self, task):
        return pretty_json(task.parameters)


class CallbackAttemptInline(ReadOnlyInline):
    model = CallbackAttempt
    fields = readonly_fields = ["number", "attempted_at", "status_code", "error", "duration_ms"]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(TenantReadOnlyAdmin):
    """Completion callbacks and every attempt at sending them; the signing secrets are never shown."""

    list_display = ["event_type", "url", "status", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["id", "task__id", "url"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ["id", "task_link", "url", "event_type", "status", "attempt_count", "next_attempt_at",
                                "lease_until", "delivered_at", "last_error", "body_json", "created_at"]
    inlines = [CallbackAttemptInline]

    @admin.display(description="task")
    def task_link(self, delivery):
        return format_html('<a href="{}">{}</a>', reverse("admin:emma_agenttask_change", args=[delivery.task_id]),
                           delivery.task_id)

    @admin.display(description="body")
    def body_json(self, delivery):
        return pretty_json(json.loads(delivery.body))
