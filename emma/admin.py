from django.contrib import admin

from core.admin import ReadOnlyAdmin, TenantReadOnlyAdmin, as_text, pretty_json
from emma.models import AgentTask, Backup, MaintenanceRun, TaskEvent


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


# --- operations: maintenance runs and backups, read-only --------------------------------------------


class OperationsReadOnlyAdmin(ReadOnlyAdmin):
    """Records written by the maintenance jobs: superusers (and staff given the view permission) read them."""


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(OperationsReadOnlyAdmin):
    list_display = ["job", "outcome", "trigger", "started_at", "duration", "summary"]
    list_filter = ["job", "outcome"]
    search_fields = ["job", "trigger", "error", "note"]
    date_hierarchy = "started_at"
    fields = readonly_fields = ["job", "outcome", "trigger", "started_at", "finished_at", "duration", "host", "note",
                                "error", "figures_json"]

    @admin.display(description="duration")
    def duration(self, run):
        seconds = run.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description="figures")
    def summary(self, run):
        if run.note:
            return run.note
        figures = run.figures or {}
        shown = {key: value for key, value in figures.items() if isinstance(value, (int, float)) and key != "backup_id"}
        return ", ".join(f"{key} {value}" for key, value in shown.items()) or "—"

    @admin.display(description="figures")
    def figures_json(self, run):
        return pretty_json(run.figures)


@admin.register(Backup)
class BackupAdmin(OperationsReadOnlyAdmin):
    list_display = ["started_at", "status", "file_name", "size", "duration", "verified_at"]
    list_filter = ["status"]
    date_hierarchy = "started_at"
    fields = readonly_fields = ["file", "status", "size", "sha256", "server_version", "started_at", "finished_at",
                                "duration", "verified_at", "error", "row_counts_json"]
    actions = ["verify_now"]

    @admin.display(description="file")
    def file_name(self, backup):
        return backup.file.rsplit("/", 1)[-1]

    @admin.display(description="size")
    def size(self, backup):
        if backup.size_bytes is None:
            return "—"
        units = ("B", "KiB", "MiB", "GiB", "TiB")
        size, index = float(backup.size_bytes), 0
        while size >= 1024 and index < len(units) - 1:
            size, index = size / 1024, index + 1
        return f"{backup.size_bytes} B" if index == 0 else f"{size:.1f} {units[index]}"

    @admin.display(description="duration")
    def duration(self, backup):
        return "—" if backup.duration_seconds is None else f"{backup.duration_seconds:.1f} s"

    @admin.display(description="row counts at dump time")
    def row_counts_json(self, backup):
        return pretty_json(backup.row_counts)

    @admin.action(description="Verify the selected completed backups now (restore into a scratch database)")
    def verify_now(self, request, queryset):
        from emma.tasks import verify_backup

        ids = list(queryset.filter(status=Backup.Status.COMPLETED).values_list("pk", flat=True))
        for backup_id in ids:
            verify_backup.apply_async((backup_id,), expires=3600)
        self.message_user(request, f"{len(ids)} verification(s) queued on the maintenance queue; "
                                   f"backups not in status completed were left out.")
