"""The integrations panel of a tenant admin's home page: outbound channels that are failing."""

from datetime import timedelta

from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from core.models import Membership
from core.registries import HomeLink, HomePanel, register_home_link, register_home_panel
from integrations.models import OutboundMessage


def failing_channels(request, membership):
    """Per channel over the last 24 hours: messages that failed for good, and those still retrying."""
    since = timezone.now() - timedelta(hours=24)
    recent = OutboundMessage.objects.filter(tenant_id=membership.tenant_id, created_at__gte=since)
    failed = {row["channel"]: row for row in recent.filter(status=OutboundMessage.Status.FAILED)
              .values("channel").annotate(count=Count("pk"), last=Max("updated_at"))}
    retrying = dict(recent.filter(status=OutboundMessage.Status.QUEUED, attempts__gt=0)
                    .values_list("channel").annotate(count=Count("pk")).order_by())
    sent = dict(recent.filter(status=OutboundMessage.Status.SENT).values_list("channel").annotate(count=Count("pk"))
                .order_by())
    outbox = reverse("admin:integrations_outboundmessage_changelist")
    channels = [{"channel": channel, "failed": failed.get(channel, {}).get("count", 0),
                 "retrying": retrying.get(channel, 0), "sent": sent.get(channel, 0),
                 "url": f"{outbox}?status__exact=failed&channel__exact={channel}"}
                for channel in sorted(set(failed) | set(retrying) | set(sent))]
    last_errors = {message.channel: message.error for message in recent.filter(status=OutboundMessage.Status.FAILED)
                   .order_by("channel", "-updated_at").distinct("channel").only("channel", "error")}
    for row in channels:
        row["error"] = last_errors.get(row["channel"], "")
    return {"channels": channels, "failing": [row for row in channels if row["failed"] or row["retrying"]],
            "outbox_url": outbox}


def register():
    admin = (Membership.Role.ADMIN,)
    register_home_panel(HomePanel("channels", "admin/integrations/home/channels.html", failing_channels, admin,
                                  order=65))
    register_home_link(HomeLink("Integrations", "admin:app_list", admin, order=30, args=("integrations",)))
