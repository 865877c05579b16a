"""Tenants and memberships, and the read-only bases every app's admin screens build on."""

import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html

from core.models import Membership, Tenant
from core.selectors import active_membership


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
    """Superusers manage every membership; a tenant's admins read their own tenant's members."""

    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]

    def has_view_permission(self, request, obj=None):
        membership = membership_of(request)
        return super().has_view_permission(request, obj) or (
            membership is not None and membership.role == Membership.Role.ADMIN
            and (obj is None or obj.tenant_id == membership.tenant_id))

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user", "tenant")
        if request.user.is_superuser:
            return queryset
        membership = membership_of(request)
        return queryset.filter(tenant_id=membership.tenant_id) if membership else queryset.none()


# --- read-only, tenant-scoped screens -----------------------------------------------------------


def pretty_json(value) -> str:
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder))


def as_text(field: str):
    """A read-only foreign key shown as text: its admin link would lead most staff to a 403."""
    show = admin.display(description=field.replace("_", " "))(lambda obj: getattr(obj, field))
    show.__name__ = field
    return show


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the application writes: the admin only shows them. Superusers (and staff given the view
    permission) read them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def membership_of(request) -> Membership | None:
    """The logged-in person's membership in the tenant their session acts in (None for users in no tenant)."""
    return active_membership(request.user)


class TenantReadOnlyAdmin(ReadOnlyAdmin):
    """A read-only screen over one tenant's rows; superusers see every tenant.
    Who may look is the Membership role (`roles`), not Django model permissions."""

    roles = Membership.DECIDING_ROLES

    def has_view_permission(self, request, obj=None):
        membership = membership_of(request)
        return request.user.is_superuser or (membership is not None and membership.role in self.roles)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        membership = membership_of(request)
        return queryset.filter(tenant_id=membership.tenant_id) if membership else queryset.none()

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if request.user.is_superuser else filters
