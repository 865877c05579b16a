"""Read-only admin screens over memory; staff see their own tenant's rows, superusers every tenant.
Memory is written through the API and the research task only, so these screens never edit."""

from django.contrib import admin

from core.admin import TenantReadOnlyAdmin
from memory.models import EpisodicEvent, MemoryBulkJob, MemoryItem


@admin.register(MemoryItem)
class MemoryItemAdmin(TenantReadOnlyAdmin):
    list_display = ["short_content", "source", "tenant", "expires_at", "created_at"]
    list_filter = ["source"]
    search_fields = ["id", "content"]
    date_hierarchy = "created_at"
    # Not the embedding: 384 numbers tell a person nothing and weigh down every page.
    fields = readonly_fields = ["id", "tenant", "content", "source", "metadata", "content_hash", "expires_at",
                                "task_id", "escalation_id", "created_by", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding", "search")

    @admin.display(description="content")
    def short_content(self, item):
        return item.content[:80]


@admin.register(EpisodicEvent)
class EpisodicEventAdmin(TenantReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "source", "actor", "tenant"]
    list_filter = ["kind", "source"]
    search_fields = ["content", "actor"]
    date_hierarchy = "occurred_at"
    fields = readonly_fields = ["id", "tenant", "kind", "source", "actor", "content", "metadata", "task_id",
                                "occurred_at", "created_at"]


@admin.register(MemoryBulkJob)
class MemoryBulkJobAdmin(TenantReadOnlyAdmin):
    list_display = ["id", "status", "done", "total", "tenant", "created_at", "finished_at"]
    list_filter = ["status"]
    fields = readonly_fields = ["id", "tenant", "status", "total", "done", "error", "created_by", "created_at",
                                "started_at", "finished_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("items", "item_ids")
