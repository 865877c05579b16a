"""Maintenance runs and backups, read-only: the jobs write them."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin, pretty_json
from operations import backups
from operations.models import Backup, MaintenanceRun


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(ReadOnlyAdmin):
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
class BackupAdmin(ReadOnlyAdmin):
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
        queued = backups.backups_verify_later(backup_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(queued)} verification(s) queued on the maintenance queue; "
                                   f"backups not in status completed were left out.")
