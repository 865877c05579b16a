"""Tenants, memberships, invitations and API keys, and the read-only bases every app's admin screens build on."""

import json

import rest_framework_api_key.admin  # noqa: F401 - registers the library's own APIKey, unregistered below
from django import forms
from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from core import accounts, services
from core.errors import ApplicationError, error_text
from core.models import APIKey, Invitation, Membership, Tenant
from core.selectors import active_membership

# Emma's keys are core.APIKey; the library's concrete model is unused.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


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


class TenantScoped:
    """A screen over the rows of the tenant the session acts in, open to the members whose role is in `roles`
    (Membership roles, not Django model permissions); superusers see every tenant's, with a tenant filter."""

    roles = Membership.DECIDING_ROLES

    def acting_membership(self, request) -> Membership | None:
        membership = membership_of(request)
        return membership if membership is not None and membership.role in self.roles else None

    def has_view_permission(self, request, obj=None):
        membership = self.acting_membership(request)
        return request.user.is_superuser or (membership is not None
                                             and (obj is None or obj.tenant_id == membership.tenant_id))

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        membership = self.acting_membership(request)
        return queryset.filter(tenant_id=membership.tenant_id) if membership else queryset.none()

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if request.user.is_superuser else filters


class TenantReadOnlyAdmin(TenantScoped, ReadOnlyAdmin):
    """A read-only screen over one tenant's rows (TenantScoped)."""


# --- tenants, their members and API keys ---------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


def _each(request, rows, work, done: str) -> None:
    """Call a service on each selected row; say how many it did and why it refused the others."""
    count, refused = 0, []
    for row in rows:
        try:
            work(row)
        except ApplicationError as exc:
            refused.append(f"{row}: {error_text(exc)}")
        else:
            count += 1
    if count:
        messages.success(request, f"{done.capitalize()} {count} of {len(rows)}.")
    for refusal in refused:
        messages.error(request, f"Not {done}: {refusal}")


@admin.register(Membership)
class MembershipAdmin(TenantScoped, admin.ModelAdmin):
    """Superusers manage every membership; a tenant's admins manage their own tenant's members: a role changes
    and a member is removed through the actions, which are core.services' (audited; the last admin stays;
    removal revokes the member's refresh tokens and the API keys they created)."""

    roles = (Membership.Role.ADMIN,)
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]
    actions = ["make_submitter", "make_approver", "make_admin", "remove_from_tenant"]

    def has_manage_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # "Remove from tenant" (member_remove) instead: a bare delete would leave tokens and keys

    def get_readonly_fields(self, request, obj=None):
        return ["user", "tenant", "role"] if obj is not None else []  # a role changes through the actions

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "tenant")

    def _set_role(self, request, queryset, role: str) -> None:
        _each(request, list(queryset), lambda m: services.member_role_change(
            membership_id=m.pk, tenant=m.tenant, by=request.user, role=role), f"made {role}")

    @admin.action(description="Make submitter", permissions=["manage"])
    def make_submitter(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.SUBMITTER)

    @admin.action(description="Make approver", permissions=["manage"])
    def make_approver(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.APPROVER)

    @admin.action(description="Make admin", permissions=["manage"])
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.ADMIN)

    @admin.action(description="Remove from tenant (revokes their tokens and API keys)", permissions=["manage"])
    def remove_from_tenant(self, request, queryset):
        _each(request, list(queryset), lambda m: services.member_remove(
            membership_id=m.pk, tenant=m.tenant, by=request.user), "removed")


@admin.register(APIKey)
class APIKeyAdmin(TenantReadOnlyAdmin):
    """A tenant's API keys (its admins; superusers see every tenant's): listed, and revoked with the action
    (core.services.api_key_revoke). Keys are created with POST /api/api-keys, which shows the key once."""

    roles = (Membership.Role.ADMIN,)
    list_display = ["prefix", "name", "role", "status", "last_used_at", "last_used_ip", "expiry_date", "created"]
    list_filter = ["role", "revoked"]
    search_fields = ["name", "prefix"]
    fields = ["prefix", "name", "tenant", "role", "task_types", "rate_limit_per_min", "expiry_date", "created",
              "created_by", "last_used_at", "last_used_ip", "revoked", "revoked_at", "revoked_by"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return self.has_view_permission(request)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant", "created_by", "revoked_by")

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        _each(request, list(queryset), lambda key: services.api_key_revoke(
            key_id=key.pk, tenant=key.tenant, by=request.user), "revoked")


# --- invitations --------------------------------------------------------------------------------


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["tenant", "email", "role"]


@admin.register(Invitation)
class InvitationAdmin(TenantScoped, admin.ModelAdmin):
    """A tenant's admins invite people to their tenant (superusers to any): the link is mailed to the
    invitee and shown once, in the message after sending. Invitations are revoked, never edited or deleted."""

    roles = (Membership.Role.ADMIN,)
    form = InvitationForm
    list_display = ["email", "role", "status_display", "invited_by", "created_at", "expires_at", "accepted_by"]
    list_filter = ["role"]
    search_fields = ["email"]
    actions = ["revoke"]
    readonly_fields = ["status_display", "invited_by", "created_at", "expires_at", "accepted_at", "accepted_by",
                       "revoked_at"]

    @admin.display(description="status")
    def status_display(self, obj):
        return Invitation.Status(obj.status).label

    def has_add_permission(self, request):
        return request.user.is_superuser or self.acting_membership(request) is not None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        if obj is not None:
            return ["tenant", "email", "role", *self.readonly_fields]
        return ["tenant", "email", "role"] if request.user.is_superuser else ["email", "role"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant", "invited_by", "accepted_by")

    def save_model(self, request, obj, form, change):
        tenant = obj.tenant if request.user.is_superuser else self.acting_membership(request).tenant
        try:
            invitation, link = accounts.invitation_create(tenant=tenant, email=obj.email, role=obj.role,
                                                          invited_by=request.user,
                                                          base_url=request.build_absolute_uri("/"))
        except ApplicationError as exc:  # the form checked the fields; a rule of the service said no
            self.message_user(request, error_text(exc), messages.ERROR)
            return
        obj.pk = invitation.pk
        obj._state.adding = False
        self.message_user(request, format_html(
            "Invitation sent to {}. Its link (shown this once): <code>{}</code>", invitation.email, link),
            messages.SUCCESS)

    def log_addition(self, request, obj, message):
        return None  # audited on the tenant's chain by the service

    def response_add(self, request, obj, post_url_continue=None):
        return self.response_post_save_add(request, obj)

    @admin.action(description="Revoke the selected invitations")
    def revoke(self, request, queryset):
        revoked = 0
        for invitation in queryset:
            try:
                accounts.invitation_revoke(tenant_id=invitation.tenant_id, invitation_id=invitation.pk,
                                           actor=request.user)
                revoked += 1
            except ApplicationError as exc:
                self.message_user(request, f"{invitation.email}: {error_text(exc)}", messages.WARNING)
        if revoked:
            self.message_user(request, f"{revoked} invitation(s) revoked.", messages.SUCCESS)

from core.configuration import admin as configuration_admin  # noqa: E402,F401 - registers the configuration screens
