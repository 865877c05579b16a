import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html

from emma.models import AgentTask, Membership, TaskEvent, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]


# --- read-only, tenant-scoped screens -----------------------------------------------------------


def pretty_json(value) -> str:
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder))


def as_text(field: str):
    """A read-only foreign key shown as text: its admin link would lead most staff to a 403."""
    show = admin.display(description=field.replace("_", " "))(lambda obj: getattr(obj, field))
    show.__name__ = field
    return show


class TenantReadOnlyAdmin(admin.ModelAdmin):
    """A read-only screen over one tenant's rows; superusers see every tenant.
    Who may look is the Membership role (`roles`), not Django model permissions: staff only."""

    roles = (Membership.Role.APPROVER, Membership.Role.ADMIN)

    def has_view_permission(self, request, obj=None):
        membership = getattr(request.user, "membership", None)  # None for users in no tenant
        return request.user.is_superuser or (
            request.user.is_staff and membership is not None and membership.role in self.roles)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        membership = getattr(request.user, "membership", None)
        return queryset.filter(tenant_id=membership.tenant_id) if membership else queryset.none()

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if request.user.is_superuser else filters


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
