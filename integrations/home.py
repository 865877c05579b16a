"""The integrations panel of a tenant admin's home page: outbound channels that are failing."""

from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from core.models import Membership
from core.registries import HomeLink, HomePanel, register_home_link, register_home_panel
from integrations.models import OutboundMessage


def failing_channels(request, membership):
    """Per channel over the last 24 hours: messages that failed for good, and those still retrying."""
    since = timezone.now() - timedelta(hours=24)
    recent = OutboundMessage.objects.filter(tenant_id=membership.tenant_id, created_at__gte=since)
    Status = OutboundMessage.Status
    outbox = reverse("admin:integrations_outboundmessage_changelist")
    channels = [{**row, "url": f"{outbox}?status__exact=failed&channel__exact={row['channel']}"}
                for row in recent.values("channel").order_by("channel").annotate(
                    failed=Count("pk", filter=Q(status=Status.FAILED)),
                    retrying=Count("pk", filter=Q(status=Status.QUEUED, attempts__gt=0)),
                    sent=Count("pk", filter=Q(status=Status.SENT)))
                if row["failed"] or row["retrying"] or row["sent"]]
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
