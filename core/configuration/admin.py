"""Every configuration document's versions, read-only, with a rollback for tenant admins (a new version holding
the chosen one's content, through the same service as the API)."""

from django.contrib import admin, messages

from core.admin import TenantReadOnlyAdmin, as_text, membership_of, pretty_json
from core.configuration import services
from core.errors import ApplicationError, error_text
from core.models import ConfigVersion, Membership


@admin.register(ConfigVersion)
class ConfigVersionAdmin(TenantReadOnlyAdmin):
    list_display = ["document", "version", "tenant", "author", "reason", "created_at"]
    list_filter = ["document"]
    list_select_related = ["tenant", "author"]
    search_fields = ["reason", "author__username", "document"]
    ordering = ["document", "-version"]
    actions = ["rollback_to_selected"]
    fields = readonly_fields = [as_text("tenant"), "document", "version", as_text("author"), "reason", "created_at",
                                "content_json", "diff_json"]

    @admin.display(description="content")
    def content_json(self, version):
        return pretty_json(version.content)

    @admin.display(description="diff")
    def diff_json(self, version):
        return pretty_json(version.diff)

    def get_actions(self, request):
        actions = super().get_actions(request)
        membership = membership_of(request)
        if membership is None or membership.role != Membership.Role.ADMIN:
            actions.pop("rollback_to_selected", None)
        return actions

    @admin.action(description="Roll back to the selected version (a new version with its content)")
    def rollback_to_selected(self, request, queryset):
        membership = membership_of(request)
        if membership is None or membership.role != Membership.Role.ADMIN:
            messages.error(request, "Only tenant admins may roll back configuration.")
            return
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            messages.error(request, "Select exactly one version to roll back to.")
            return
        target = chosen[0]
        if target.tenant_id != membership.tenant_id:  # a superuser acts in a tenant only through a membership there
            messages.error(request, "You act in another tenant: roll back only your own tenant's configuration.")
            return
        try:
            created = services.config_rollback(
                tenant_id=target.tenant_id, document=target.document, version=target.version, user=request.user,
                reason=f"rollback to version {target.version} in the admin", correlation_id=request.correlation_id)
        except ApplicationError as exc:
            messages.error(request, error_text(exc))
            return
        messages.success(request, f"{target.document}: version {created.version} now holds version "
                                  f"{target.version}'s content.")
