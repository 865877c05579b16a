"""The weekly DORA digest (DoraDigest, one per tenant, off until enabled): last week's four figures and
their change from the week before, posted to a Slack channel through the outbox or submitted as a governed
`notify` task as the digest's `run_as` member (its `to` names the tenant's notify routing rule).

Once per tenant and week: the conditional UPDATE of `last_week_sent` is the guard (two beats, or two
workers, claim a week once), the claim and the post commit together (a failed post leaves the week to the
next beat), and the post's idempotency key is the tenant and week, so even a replayed claim sends nothing
twice."""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ApplicationError, Invalid, error_text
from core.models import Membership
from emma.services import task_submit
from integrations import outbound
from integrations.dora import levels, selectors
from integrations.dora.models import DoraDigest
from integrations.models import Channel, RoutingRule

logger = logging.getLogger(__name__)


def last_week(now: datetime) -> date:
    """The Monday of the last full ISO week (UTC) before `now`."""
    return selectors.week_of(now) - timedelta(weeks=1)


def _window(week: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week, time.min, tzinfo=UTC)
    return start, start + timedelta(weeks=1)


def _figures(digest: DoraDigest, week: date) -> dict:
    start, end = _window(week)
    return selectors.summary(selectors.scope(tenant_id=digest.tenant_id, service=digest.service,
                                             environment=digest.environment, start=start, end=end))


def _change(now, before, *, percent: bool = False) -> str:
    if now is None or before is None:
        return ""
    delta = now - before
    if abs(delta) < 1e-9:
        return " (unchanged)"
    sign = "+" if delta > 0 else "−"
    shown = f"{abs(delta) * 100:.0f} points" if percent else levels.duration_text(abs(delta))
    return f" ({sign}{shown} on the week before)"


def _level(figure: dict) -> str:
    return f" [{figure['level']}]" if figure.get("level") else ""


def digest_text(*, digest: DoraDigest, week: date) -> str:
    """The digest's message: the week's four figures, each with its level and its change from the week before."""
    this, before = _figures(digest, week), _figures(digest, week - timedelta(weeks=1))
    scope = slack_escaped(digest.service) or "all services"
    lines = [f"DORA metrics, week of {week.isoformat()} ({scope}, {this['environment']}):"]
    deployments, previous = this["counts"]["deployments"], before["counts"]["deployments"]
    lines.append(f"• Deployments: {deployments}{_count_change(deployments, previous)}"
                 f"{_level(this['deployment_frequency'])}")
    lead, lead_before = this["lead_time"]["median_seconds"], before["lead_time"]["median_seconds"]
    lines.append(f"• Lead time for changes: {this['lead_time']['text'] or 'no changes'}"
                 f"{_change(lead, lead_before)}{_level(this['lead_time'])}")
    cfr, cfr_before = this["change_failure_rate"]["rate"], before["change_failure_rate"]["rate"]
    lines.append(f"• Change failure rate: {this['change_failure_rate']['text'] or 'no deployments'}"
                 f"{_change(cfr, cfr_before, percent=True)}{_level(this['change_failure_rate'])}")
    restore, restore_before = this["time_to_restore"]["median_seconds"], before["time_to_restore"]["median_seconds"]
    lines.append(f"• Time to restore service: {this['time_to_restore']['text'] or 'no incidents resolved'}"
                 f"{_change(restore, restore_before)}{_level(this['time_to_restore'])}")
    lines.append(f"Levels by the {this['report_year']} State of DevOps report.")
    return "\n".join(lines)


def slack_escaped(text: str) -> str:
    """Text a tenant typed, shown as itself in Slack: no <!channel>, no <link|label> (Slack's own escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _count_change(now: int, before: int) -> str:
    return " (unchanged)" if now == before else f" ({'+' if now > before else '−'}{abs(now - before)} on the week before)"


def _notify_rule_id(digest: DoraDigest) -> int:
    rule_id = int(digest.to) if digest.to.strip().isdigit() else None
    if rule_id is None or not RoutingRule.objects.filter(pk=rule_id, tenant_id=digest.tenant_id,
                                                         action=RoutingRule.Action.NOTIFY).exists():
        raise Invalid(f"DORA digest of tenant {digest.tenant_id}: `to` must name one of the tenant's notify "
                      "routing rules by its id", details={"to": ["Not a notify routing rule of this tenant."]})
    return rule_id


@transaction.atomic
def digest_send(*, digest_id: int, week: date) -> bool:
    """Post one digest's figures for the week starting on Monday `week`, once: answers whether this call
    claimed and posted it (False: not enabled, or that week or a later one is already sent)."""
    claimed = DoraDigest.objects.filter(pk=digest_id, enabled=True).filter(
        Q(last_week_sent__isnull=True) | Q(last_week_sent__lt=week)).update(last_week_sent=week)
    if claimed != 1:
        return False
    digest = DoraDigest.objects.select_related("run_as").get(pk=digest_id)
    text = digest_text(digest=digest, week=week)
    key = f"dora-digest:{digest.tenant_id}:{week.isoformat()}"
    if digest.via == DoraDigest.Via.SLACK:
        if not digest.to.strip():
            raise Invalid("A Slack digest needs its channel id in `to`.", details={"to": ["Required."]})
        outbound.message_queue(channel=Channel.SLACK, to=digest.to.strip(), text=text, purpose="dora_digest",
                               idempotency_key=key, tenant_id=digest.tenant_id)
        return True
    rule_id = _notify_rule_id(digest)
    user = digest.run_as
    membership = (Membership.objects.filter(user=user, tenant_id=digest.tenant_id).select_related("tenant").first()
                  if user is not None else None)
    if membership is None:
        raise Invalid("A notify digest runs as a member of its tenant.", details={"run_as": ["Not a member."]})
    user.membership = membership  # the task is the digest's tenant's, whichever tenants run_as belongs to
    task_submit(user=user, task_type="notify", description=f"DORA digest, week of {week.isoformat()}",
                parameters={"rule_id": rule_id, "text": text}, idempotency_key=key, channel="dora_digest")
    return True


def digests_send(*, now: datetime | None = None) -> int:
    """Send every enabled digest whose last full week is not sent yet; answers how many were sent. A digest
    that cannot be sent (its destination is wrong) is logged and tried again at the next beat."""
    week = last_week(now or timezone.now())
    due = DoraDigest.objects.filter(enabled=True).filter(
        Q(last_week_sent__isnull=True) | Q(last_week_sent__lt=week)).values_list("pk", flat=True)
    sent = 0
    for digest_id in list(due):
        try:
            sent += digest_send(digest_id=digest_id, week=week)
        except ApplicationError as exc:  # its destination is wrong, or governance refused it
            logger.warning("DORA digest %s not sent: %s", digest_id, error_text(exc))
        except Exception:  # noqa: BLE001 - one tenant's digest never stops the others'
            logger.exception("DORA digest %s not sent", digest_id)
    return sent
