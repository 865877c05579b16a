"""Admin screens: channel identities and routing rules (edited by superusers), a tenant's webhook endpoints,
deliveries (replayed, dead letters redriven) and outbound messages with a one-click Retry for the failed ones
(a service call), read-only GitHub
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

from core.admin import TenantReadOnlyAdmin, TenantScoped, as_text, pretty_json
from core.errors import ApplicationError, error_text
from core.models import Membership
from core.selectors import active_membership
from integrations import outbound, providers, registry, services
from integrations.dora import admin as dora_admin  # noqa: F401  (registers the DORA screens)
from integrations.models import (
    ChannelIdentity,
    GitHubInstallation,
    GitHubRequest,
    OutboundMessage,
    RoutingRule,
    WebhookDelivery,
    WebhookEndpoint,
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
    """What arrived, once per dedup key (per endpoint for a tenant's registered ones): how it was verified, and
    how its processing went. Tenant admins replay deliveries (processed again, nothing done twice) and redrive
    dead letters (`failed`), one by one or selected in bulk. Superusers also see deliveries of no tenant."""

    list_display = ["received_at", "provider", "endpoint", "event_type", "status", "attempts", "replays", "tenant",
                    "short_error", "replay_button"]
    list_filter = ["status", "provider", "event_type"]
    search_fields = ["dedup_key", "event_type", "error"]
    date_hierarchy = "received_at"
    actions = ["redrive_selected", "replay_selected"]
    fields = readonly_fields = ["provider", as_text("endpoint"), "event_type", "dedup_key", as_text("tenant"),
                                "verification", "status", "attempts", "replays", "error", "received_at",
                                "processed_at", "headers_json", "body", "replay_button"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint", "tenant")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "endpoint__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="error")
    def short_error(self, delivery):
        return Truncator(delivery.error).chars(80)

    @admin.display(description="headers")
    def headers_json(self, delivery):
        return pretty_json(delivery.headers)

    @admin.display(description="")
    def replay_button(self, delivery):
        if delivery.status == WebhookDelivery.Status.RECEIVED:
            return ""
        url = reverse("admin:integrations_webhookdelivery_replay", args=[delivery.pk])
        label = "Redrive" if delivery.status == WebhookDelivery.Status.FAILED else "Replay"
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post" '
                           'name="replay" value="{}">{}</button>', url, delivery.pk, label)

    def get_urls(self):
        replay = self.admin_site.admin_view(require_POST(self.replay_view))
        return [path("<int:object_id>/replay/", replay, name="integrations_webhookdelivery_replay"),
                *super().get_urls()]

    def _replay(self, request, delivery_id) -> str:
        tenant_id = None if request.user.is_superuser else active_membership(request.user).tenant_id
        try:
            services.delivery_replay(delivery_id=delivery_id, tenant_id=tenant_id)
        except ApplicationError as exc:
            return error_text(exc)
        return ""

    def replay_view(self, request, object_id):
        delivery = self.get_object(request, unquote(str(object_id)))
        if delivery is None or not may_retry(request):
            messages.error(request, "You may not replay this delivery.")
        else:
            refused = self._replay(request, delivery.pk)
            if refused:
                messages.warning(request, refused)
            else:
                messages.success(request, f"Delivery {delivery.pk} queued to be processed again.")
        return redirect(reverse("admin:integrations_webhookdelivery_changelist"))

    @admin.action(description="Redrive the selected dead letters (failed deliveries)")
    def redrive_selected(self, request, queryset):
        if not may_retry(request):
            messages.error(request, "Only tenant admins may redrive deliveries.")
            return
        done = services.deliveries_redrive(ids=list(queryset.values_list("pk", flat=True)))
        messages.info(request, f"{done} failed deliveries queued for processing again.")

    @admin.action(description="Replay the selected deliveries (process them again)")
    def replay_selected(self, request, queryset):
        if not may_retry(request):
            messages.error(request, "Only tenant admins may replay deliveries.")
            return
        refused = [text for text in (self._replay(request, pk) for pk in queryset.values_list("pk", flat=True))
                   if text]
        messages.info(request, f"{queryset.count() - len(refused)} deliveries queued for processing again"
                               + (f"; {len(refused)} not: {refused[0]}" if refused else "."))


class WebhookEndpointForm(forms.ModelForm):
    """A new endpoint: its provider, a name, the provider's options (JSON) and, where the vendor issues the
    secret itself (PagerDuty, Linear, Sentry), that secret; else Emma makes one."""

    provider = forms.ChoiceField(choices=())
    options = forms.JSONField(required=False, initial=dict, help_text=(
        "The provider's options as JSON, e.g. {\"header\": \"X-My-Secret\"}; GET /api/integrations/providers "
        "lists each provider's."))
    given_secret = forms.CharField(required=False, label="Secret issued by the vendor", help_text=(
        "Only where the tool makes the secret itself (PagerDuty, Linear, Sentry); leave empty and Emma makes one, "
        "shown once after saving."), widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "provider", "name", "options", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "provider" in self.fields:  # read-only once the endpoint exists
            self.fields["provider"].choices = [(p.name, p.title or p.name) for p in providers.registrable()]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScoped, admin.ModelAdmin):
    """A tenant's own webhook endpoints (its admins; superusers any tenant's): the URL to paste into the tool,
    how deliveries to it are verified, its secret (shown once, after adding or rotating), and a switch: off, its
    URL answers 404 and stores nothing. Changes go through integrations.registry, audited on the tenant's chain."""

    roles = (Membership.Role.ADMIN,)
    form = WebhookEndpointForm
    list_display = ["name", "provider", "enabled", "url", "signs", "previous_secret_expires_at", "deliveries_link",
                    "created_at"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name"]
    actions = ["rotate_secret", "switch_on", "switch_off"]
    readonly_fields = ["url", "verification", "previous_secret_expires_at", "rotated_at", "created_by",
                       "created_at", "deliveries_link"]

    def has_add_permission(self, request):
        return request.user.is_superuser or self.acting_membership(request) is not None

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj) and (request.user.is_superuser
                                                            or self.acting_membership(request) is not None)

    def has_delete_permission(self, request, obj=None):
        return False  # switched off instead: its deliveries keep naming it

    def get_fields(self, request, obj=None):
        if obj is not None:
            return ["tenant", "provider", "name", "options", "enabled", *self.readonly_fields]
        fields = ["provider", "name", "options", "given_secret"]
        return ["tenant", *fields] if request.user.is_superuser else fields

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "tenant", "provider"] if obj is not None else self.readonly_fields

    @admin.display(description="URL")
    def url(self, endpoint):
        return endpoint.path

    @admin.display(description="verified by")
    def verification(self, endpoint):
        registration = providers.provider(endpoint.provider).registration
        how = registration.describe(endpoint.options or {})
        return how if registration.signs else f"{how}. This provider cannot sign: keep the URL and secret private."

    @admin.display(description="signed", boolean=True)
    def signs(self, endpoint):
        return providers.provider(endpoint.provider).registration.signs

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint):
        url = reverse("admin:integrations_webhookdelivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
        return format_html('<a href="{}">deliveries</a>', url)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                registry.endpoint_update(tenant_id=obj.tenant_id, endpoint_id=obj.pk, user=request.user,
                                         name=data["name"], enabled=data["enabled"], options=data["options"] or {})
                return
            tenant_id = obj.tenant_id if request.user.is_superuser else self.acting_membership(request).tenant_id
            endpoint, secret = registry.endpoint_create(tenant_id=tenant_id, user=request.user,
                                                        provider=data["provider"], name=data["name"],
                                                        options=data["options"] or {},
                                                        secret=data.get("given_secret") or None)
        except ApplicationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return
        obj.pk, obj._state.adding = endpoint.pk, False
        self.message_user(request, format_html(
            "Endpoint registered. Its URL: <code>{}</code>. Its secret (shown this once): <code>{}</code>",
            request.build_absolute_uri(endpoint.path), secret), messages.SUCCESS)

    def log_addition(self, request, obj, message):
        return None  # audited on the tenant's chain by the service

    def log_change(self, request, obj, message):
        return None

    def response_add(self, request, obj, post_url_continue=None):
        return self.response_post_save_add(request, obj)

    @admin.action(description="Rotate the secret (the old one keeps working for a day)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            try:
                _, secret = registry.endpoint_rotate(tenant_id=endpoint.tenant_id, endpoint_id=endpoint.pk,
                                                     user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{endpoint.name}: {error_text(exc)}", messages.ERROR)
                continue
            self.message_user(request, format_html(
                "{}: new secret (shown this once): <code>{}</code>; the previous one verifies for another day.",
                endpoint.name, secret), messages.SUCCESS)

    def _switch(self, request, queryset, enabled: bool):
        for endpoint in queryset:
            registry.endpoint_update(tenant_id=endpoint.tenant_id, endpoint_id=endpoint.pk, user=request.user,
                                     enabled=enabled)
        self.message_user(request, f"{queryset.count()} endpoint(s) switched {'on' if enabled else 'off'}.")

    @admin.action(description="Switch on")
    def switch_on(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description="Switch off (answers 404, stores nothing)")
    def switch_off(self, request, queryset):
        self._switch(request, queryset, False)


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
