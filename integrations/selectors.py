"""Integration reads: who a sender is, which rules an event matches, where a webhook's tenant is."""

from django.db.models import QuerySet
from django.utils import timezone

from core.models import Membership, Tenant
from integrations.models import (ChannelIdentity, DecisionCode, RoutingRule, WebhookDelivery, WebhookEndpoint,
                                 normalized_address)

_MISSING = object()


def identity_for(*, channel: str, address: str) -> ChannelIdentity | None:
    """The identity behind a sender, if it still speaks for an active member of its tenant."""
    identity = (ChannelIdentity.objects.select_related("user")
                .filter(channel=channel, address=normalized_address(channel, address)).first())
    if identity is None or not identity.user.is_active:
        return None
    membership = Membership.objects.filter(user_id=identity.user_id, tenant_id=identity.tenant_id).select_related(
        "tenant").first()
    if membership is None:
        return None  # the user left the tenant since the identity was made
    identity.user.membership = membership  # what the sender does, they do in the identity's tenant
    return identity


def identities_of(*, user_ids) -> QuerySet[ChannelIdentity]:
    return ChannelIdentity.objects.filter(user_id__in=list(user_ids)).select_related("user").order_by("user_id", "pk")


def payload_value(payload, dotted: str):
    """payload["a"]["b"] for "a.b"; _MISSING when any step is absent."""
    value = payload
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def rule_matches(rule: RoutingRule, event_type: str, payload) -> bool:
    """Same event type (or the rule names none) and every `match` path has its value (a list: any of them)."""
    if rule.event_type and rule.event_type != event_type:
        return False
    for path, expected in (rule.match or {}).items():
        actual = payload_value(payload, path)
        allowed = expected if isinstance(expected, list) else [expected]
        if actual is _MISSING or actual not in allowed:
            return False
    return True


def routing_rules_matching(*, tenant_id: int, provider: str, event_type: str, payload) -> list[RoutingRule]:
    rules = RoutingRule.objects.filter(tenant_id=tenant_id, provider=provider, enabled=True).select_related("run_as")
    return [rule for rule in rules.order_by("pk") if rule_matches(rule, event_type, payload)]


def tenant_for_webhook(*, slug: str) -> int | None:
    """The tenant named by ?tenant=<slug> (or INTEGRATIONS_DEFAULT_TENANT); with neither, the only tenant
    when there is exactly one."""
    if slug:
        return Tenant.objects.filter(slug=slug).values_list("pk", flat=True).first()
    ids = list(Tenant.objects.values_list("pk", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None


def open_code(*, code: str, approver_id: int) -> DecisionCode | None:
    """The approver's unused, unexpired code, or None (wrong, used, expired or someone else's)."""
    return DecisionCode.objects.filter(code=code, approver_id=approver_id, closed_at__isnull=True,
                                       expires_at__gt=timezone.now()).first()


def closed_code(*, code: str, approver_id: int) -> DecisionCode | None:
    """The approver's most recent closed code with this value (to say why it no longer works)."""
    return (DecisionCode.objects.filter(code=code, approver_id=approver_id, closed_at__isnull=False)
            .order_by("-closed_at").first())


def endpoint_receiving(*, provider: str, endpoint_id) -> WebhookEndpoint | None:
    """The enabled registered endpoint a webhook URL names, or None (unknown, another provider's, disabled)."""
    return WebhookEndpoint.objects.filter(pk=endpoint_id, provider=provider, enabled=True).first()


def endpoints_of_tenant(*, tenant_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(tenant_id=tenant_id).order_by("provider", "name")


def deliveries_of_tenant(*, tenant_id: int, status: str = "", provider: str = "", endpoint_id=None,
                         event_type: str = "") -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(tenant_id=tenant_id).select_related("endpoint")
    if status:
        deliveries = deliveries.filter(status=status)
    if provider:
        deliveries = deliveries.filter(provider=provider)
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries.order_by("-received_at", "-pk")
