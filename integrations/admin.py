"""Admin screens: channel identities and routing rules (edited by superusers), read-only deliveries
and outbound messages with a one-click Retry for the failed ones (a service call), read-only GitHub
installations, whose tokens are shown only as set or not, and the agent runs asked for on GitHub."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from core.admin import TenantReadOnlyAdmin, as_text, pretty_json
from core.models import Membership
from core.selectors import active_membership
from integrations import outbound, services
from integrations.dora import admin as dora_admin  # noqa: F401  (registers the DORA screens)
from integrations.models import (
    ChannelIdentity,
    GitHubInstallation,
    GitHubRequest,
    OutboundMessage,
    RoutingRule,
    WebhookDelivery,
    default_agent_tools,
)


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(admin.ModelAdmin):
    """Who a Slack member, phone number or WhatsApp number is. The form normalises the address and
    checks the user belongs to the tenant."""

    list_display = ["address", "channel", "user", "tenant", "created_at"]
    list_filter = ["channel", "tenant"]
    search_fields = ["address", "user__username"]
    autocomplete_fields = ["user"]


class RoutingRuleForm(forms.ModelForm):
    """The tools left empty mean the read-only GitHub tools (an agent run never gets every tool by accident)."""

    class Meta:
        model = RoutingRule
        fields = "__all__"

    def clean_tools(self):
        tools = self.cleaned_data.get("tools")
        return default_agent_tools() if tools in (None, "", []) else tools


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Which events of a tenant's tools do what: notify a channel, or (GitHub) start an agent run whose
    answer is posted back as a comment. The form checks each action's fields (RoutingRule.clean)."""

    form = RoutingRuleForm
    list_display = ["name", "tenant", "provider", "action", "event_type", "channel", "to", "enabled"]
    list_filter = ["provider", "action", "channel", "enabled", "tenant"]
    search_fields = ["name", "event_type", "to"]
    autocomplete_fields = ["run_as"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "provider", "action", "event_type", "match", "run_as", "enabled"]}),
        ("Notify", {"fields": ["channel", "to"], "description": "Where a notify rule posts the event's summary."}),
        ("Agent run", {"fields": ["tools"], "description": (
            "What an agent_run rule's run may use. Its answer is posted on the issue or pull request as a "
            "github.comment task, which the tenant's policy decides like any side effect (under supervised, an "
            "approver reads it first).")}),
    ]


@admin.register(GitHubRequest)
class GitHubRequestAdmin(TenantReadOnlyAdmin):
    """Agent runs asked for on GitHub (a mention or a label), and the github.comment task that answers each."""

    list_display = ["created_at", "repo", "number", "requested_by", "task_id", "reply_task_id"]
    search_fields = ["repo", "requested_by", "delivery_id"]
    date_hierarchy = "created_at"
    fields = readonly_fields = ["task_id", as_text("tenant"), as_text("rule"), "repo", "number", "comment_id",
                                "requested_by", "url", "delivery_id", "reply_task_id", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantReadOnlyAdmin):
    """What arrived, once per dedup key. Superusers also see deliveries of no tenant (unknown senders)."""

    list_display = ["received_at", "provider", "event_type", "status", "tenant", "short_error"]
    list_filter = ["provider", "status", "event_type"]
    search_fields = ["dedup_key", "event_type", "error"]
    date_hierarchy = "received_at"
    actions = ["reprocess_selected"]
    fields = readonly_fields = ["provider", "event_type", "dedup_key", as_text("tenant"), "status", "attempts", "error",
                                "received_at", "processed_at", "headers_json", "body"]

    @admin.display(description="error")
    def short_error(self, delivery):
        return Truncator(delivery.error).chars(80)

    @admin.display(description="headers")
    def headers_json(self, delivery):
        return pretty_json(delivery.headers)

    @admin.action(description="Process selected failed deliveries again")
    def reprocess_selected(self, request, queryset):
        done = sum(services.delivery_reprocess(delivery_id=pk) for pk in queryset.values_list("pk", flat=True))
        messages.info(request, f"{done} failed deliveries queued for processing again.")


def may_retry(request) -> bool:
    membership = active_membership(request.user)
    return request.user.is_superuser or (membership is not None and membership.role == Membership.Role.ADMIN)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(TenantReadOnlyAdmin):
    """The outbox. A failed message has a Retry button (and a bulk action): a fresh set of attempts."""

    list_display = ["created_at", "channel", "to", "purpose", "status", "attempts", "short_text", "short_error",
                    "retry_button"]
    list_filter = ["status", "channel", "purpose"]
    search_fields = ["to", "text", "idempotency_key", "provider_message_id"]
    date_hierarchy = "created_at"
    actions = ["retry_selected"]
    fields = readonly_fields = [
        "channel", "to", "purpose", "status", "attempts", "error", "text", "operation", "idempotency_key",
        "provider_message_id", "provider_channel", "task_id", "escalation_id", as_text("recipient"), "created_at",
        "next_attempt_at", "sent_at", "retry_button"]

    @admin.display(description="text")
    def short_text(self, message):
        return Truncator(message.text).chars(60)

    @admin.display(description="error")
    def short_error(self, message):
        return Truncator(message.error).chars(80)

    @admin.display(description="")
    def retry_button(self, message):
        if message.status != OutboundMessage.Status.FAILED:
            return ""
        url = reverse("admin:integrations_outboundmessage_retry", args=[message.pk])
        # Inside the page's own POST form (the change list, the change page), which carries the CSRF
        # token: retrying changes state, so it is a POST, never a link.
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post" '
                           'name="retry" value="{}">Retry</button>', url, message.pk)

    def get_urls(self):
        retry = self.admin_site.admin_view(require_POST(self.retry_view))
        return [path("<int:object_id>/retry/", retry, name="integrations_outboundmessage_retry"), *super().get_urls()]

    def retry_view(self, request, object_id):
        message = self.get_object(request, unquote(str(object_id)))
        if message is None or not may_retry(request):
            messages.error(request, "You may not retry this message.")
        elif outbound.message_retry(message_id=message.pk):
            messages.success(request, f"Message to {message.to} queued again.")
        else:
            messages.warning(request, "Only a failed message can be retried.")
        return redirect(reverse("admin:integrations_outboundmessage_changelist"))

    @admin.action(description="Retry selected failed messages")
    def retry_selected(self, request, queryset):
        if not may_retry(request):
            messages.error(request, "Only tenant admins may retry messages.")
            return
        done = sum(outbound.message_retry(message_id=pk) for pk in queryset.values_list("pk", flat=True))
        messages.info(request, f"{done} failed messages queued again.")


def token_state(field: str):
    """A secret's column shown as "set" or "not set", from the `<field>_set` the screen's query annotates."""
    show = admin.display(description=field.replace("_", " "))(lambda obj: "set" if getattr(obj, f"{field}_set")
                                                               else "not set")
    show.__name__ = f"{field}_state"
    return show


@admin.register(GitHubInstallation)
class GitHubInstallationAdmin(TenantReadOnlyAdmin):
    """Where Emma's GitHub App is installed, for a tenant's admins. The app writes these rows (installation
    and OAuth flows: "Connect GitHub" starts one); the screen shows what each may reach and whether its
    tokens are set."""

    change_list_template = "admin/integrations/githubinstallation/change_list.html"

    roles = (Membership.Role.ADMIN,)
    list_display = ["account_login", "account_type", "installation_id", "repository_count",
                    token_state("access_token"), "access_token_expires_at", "disabled_at", "created_at"]
    list_filter = ["account_type"]
    search_fields = ["account_login"]
    fields = readonly_fields = [
        "installation_id", "account_login", "account_type", as_text("tenant"), "repositories_json",
        "permissions_json", token_state("access_token"), "access_token_expires_at", token_state("refresh_token"),
        "refresh_token_expires_at", token_state("user_access_token"), "user_access_token_expires_at",
        as_text("installed_by"), "github_user_login", "disabled_at", "disabled_reason", "created_at",
        "updated_at"]

    def get_queryset(self, request):
        """The tokens are never read here, so never decrypted: only whether each is set."""
        tokens = ("access_token", "refresh_token", "user_access_token")
        return super().get_queryset(request).defer(*tokens).annotate(
            **{f"{token}_set": Q(**{f"{token}__isnull": False}) for token in tokens})

    @admin.display(description="repositories")
    def repository_count(self, installation):
        return len(installation.repositories or [])

    @admin.display(description="repositories")
    def repositories_json(self, installation):
        return pretty_json(installation.repositories)

    @admin.display(description="permissions")
    def permissions_json(self, installation):
        return pretty_json(installation.permissions)
