"""Completion callbacks: when a task reaches a final status, its outcome is POSTed to the task's
`callback_url`, signed as Standard Webhooks says (https://www.standardwebhooks.com/).

- One CallbackDelivery per task (unique on the task), created after the final transition committed; a
  hook lost with its process is made good by the sweep. Its body is fixed then, and its id is the
  `webhook-id` of every attempt: a receiver deduplicates on it.
- Sent by claiming the row (pending → sending with a lease, a conditional UPDATE): one sender per attempt.
  Every attempt is recorded. A 2xx answer delivers it; anything else is a failed attempt, tried again
  after RETRY_STEPS (with jitter) until RETRY_WINDOW has passed since the first, then it is `dead`.
- A wait of up to a minute rides a Celery countdown; a longer one lives in `next_attempt_at`, which the
  sweep (every 10 s) publishes when due. A sender that died leaves `sending` past its lease: the sweep
  records that as a failed attempt (the receiver may have it; it dedupes by webhook-id) and schedules
  the next one.
- The URL is checked at submission and again before every send, resolved once and connected to at that
  address, so a name cannot resolve to a public address for the check and a private one for the send:
  private, loopback, link-local, multicast and reserved addresses are refused unless
  CALLBACK_ALLOW_PRIVATE_URLS.
- Signing secrets: one current per tenant, created on first need and shown once, when a tenant admin
  rotates it; a secret retired less than SECRET_OVERLAP ago still signs, beside the current one."""

import base64
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from core import queueing
from core.errors import Forbidden, Invalid
from core.models import Membership, Tenant
from core.selectors import membership_for_user
from emma.models import AgentTask, CallbackAttempt, CallbackDelivery, CallbackSecret
from governance.audit import audit_record

logger = logging.getLogger(__name__)
Status = CallbackDelivery.Status

MAX_URL_LENGTH = 2000
# The wait after each failed attempt, in seconds (the last one repeats): ~5 s, 30 s, 2 min, 10 min,
# 30 min, 1 h, 2 h, 4 h, then every 8 h, until RETRY_WINDOW has passed since the first attempt.
RETRY_STEPS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
RETRY_WINDOW = timedelta(hours=24)
# The house rule: a longer wait lives in next_attempt_at, for the sweep.
MAX_COUNTDOWN_SECONDS = 60
# The sweep publishes a due delivery only this late, so it rarely doubles the countdown on its way.
SWEEP_GRACE = timedelta(seconds=10)
# A final task still without its delivery this long after it finished lost its hook with its process.
LOST_HOOK_GRACE = timedelta(seconds=30)
SECRET_OVERLAP = timedelta(hours=24)


class RefusedUrl(Exception):
    """The URL may not be called (its scheme, its form, or the address its host resolves to)."""


# --- URLs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a send goes: the URL with the vetted address in place of the name, and the name it stands for."""

    url: str
    host_header: str
    hostname: str


def _refusal(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) says nothing more
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def _target(url: str) -> Target:
    """Check the URL and resolve its host once; every address it resolves to must be allowed."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"At most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracketed IPv6 host left open, or closed without an opening
        raise RefusedUrl("Not a URL: its [IPv6 address] brackets do not match.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedUrl("An http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("No credentials in the URL: the signature tells the receiver the callback is Emma's.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedUrl("The port is not a number from 0 to 65535.") from None
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedUrl(f"Its host {parts.hostname} does not resolve ({exc}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not settings.CALLBACK_ALLOW_PRIVATE_URLS:
        for address in addresses:
            reason = _refusal(address)
            if reason:
                raise RefusedUrl(f"Its host resolves to {reason}; callbacks go to public addresses only.")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rpartition("@")[2]
    return Target(url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
                  host_header=host_header, hostname=parts.hostname)


def callback_url_check(url: str | None) -> str | None:
    """The callback URL a task may be given (None: none), else Invalid naming `callback_url`: http(s),
    at most 2000 characters, and resolving to public addresses only unless CALLBACK_ALLOW_PRIVATE_URLS."""
    if url is None:
        return None
    try:
        _target(url)
    except RefusedUrl as exc:
        raise Invalid.field("callback_url", str(exc)) from None
    return url


# --- signing secrets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RotatedSecret:
    secret: str
    created_at: datetime
    previous_signs_until: datetime | None


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _current_secret(tenant_id: int) -> CallbackSecret:
    """The tenant's current secret, created on first need (under the tenant's row lock, as rotation is)."""
    current = CallbackSecret.objects.filter(tenant_id=tenant_id, retired_at__isnull=True).first()
    if current is not None:
        return current
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant_id).first()
        current = CallbackSecret.objects.filter(tenant_id=tenant_id, retired_at__isnull=True).first()
        return current or CallbackSecret.objects.create(tenant_id=tenant_id, secret=_new_secret())


def _signing_secrets(tenant_id: int) -> list[str]:
    """The current secret, then those retired within SECRET_OVERLAP, newest first."""
    current = _current_secret(tenant_id)
    recent = (CallbackSecret.objects.filter(tenant_id=tenant_id, retired_at__gte=timezone.now() - SECRET_OVERLAP)
              .order_by("-retired_at").values_list("secret", flat=True))
    return [current.secret, *recent]


@transaction.atomic
def callback_secret_rotate(*, user, correlation_id: str = "") -> RotatedSecret:
    """A new signing secret for the caller's tenant, returned this once; the one it replaces keeps
    signing beside it for SECRET_OVERLAP. Tenant admins only; recorded in the audit chain (not the secret)."""
    membership = membership_for_user(user)
    if membership.role != Membership.Role.ADMIN:
        raise Forbidden("Only tenant admins may rotate the callback signing secret.")
    tenant_id = membership.tenant_id
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()
    now = timezone.now()
    retired = CallbackSecret.objects.filter(tenant_id=tenant_id, retired_at__isnull=True).update(retired_at=now)
    created = CallbackSecret.objects.create(tenant_id=tenant_id, secret=_new_secret())
    previous_signs_until = now + SECRET_OVERLAP if retired else None
    audit_record(tenant_id=tenant_id, actor=user.get_username(), action="callback_secret.rotated",
                 object_type="callback_secret", object_id=created.pk,
                 after={"previous_signs_until": previous_signs_until}, correlation_id=correlation_id)
    return RotatedSecret(secret=created.secret, created_at=created.created_at,
                         previous_signs_until=previous_signs_until)


def signature_header(*, tenant_id: int, webhook_id: str, timestamp: int, body: str) -> str:
    """`webhook-signature`: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" once per signing secret,
    space-separated."""
    signed_at = datetime.fromtimestamp(timestamp, tz=dt_timezone.utc)
    return " ".join(Webhook(secret).sign(webhook_id, signed_at, body) for secret in _signing_secrets(tenant_id))


# --- deliveries ---------------------------------------------------------------------------------


def _publish(delivery_id, countdown: float = 0) -> None:
    """Hand the send to the broker; a failure is logged and the sweep publishes the row again."""
    from emma.tasks import send_callback

    queueing.publish(send_callback, str(delivery_id), countdown=countdown)


def _body(task: AgentTask) -> str:
    data = {"task_id": task.pk, "task_type": task.task_type, "status": task.status, "decision": task.decision,
            "result": task.result, "error": task.error, "actual_cost": task.actual_cost,
            "created_at": task.created_at, "finished_at": task.finished_at, "correlation_id": task.correlation_id}
    event = {"type": f"task.{task.status}", "timestamp": task.finished_at or timezone.now(), "data": data}
    return json.dumps(event, cls=DjangoJSONEncoder, separators=(",", ":"))


def callback_delivery_create(*, task: AgentTask) -> CallbackDelivery | None:
    """The finished task's callback, created once (unique on the task); None when the task has no
    callback_url, is not final, or already has its callback."""
    if not task.callback_url or task.status not in AgentTask.FINAL_STATUSES:
        return None
    now = timezone.now()
    delivery, created = CallbackDelivery.objects.get_or_create(task_id=task.pk, defaults={
        "tenant_id": task.tenant_id, "url": task.callback_url, "event_type": f"task.{task.status}",
        "body": _body(task), "next_attempt_at": now})
    return delivery if created else None


def on_task_finished(*, task) -> None:
    """emma.hooks' handler, once a final transition committed: the task's callback (when it has a
    callback_url) is created and sent. Nothing here can fail or undo the transition."""
    try:
        delivery = callback_delivery_create(task=task)
    except Exception:  # the task's own transition has committed; the sweep makes the callback later
        logger.exception("could not create the completion callback of task %s; the sweep will", task.pk)
        return
    if delivery is not None:
        _publish(delivery.pk)


def retry_delay_seconds(attempt: int) -> float:
    """The wait after failed attempt `attempt`: its RETRY_STEPS step, half fixed and half random as
    core.queueing.backoff_seconds draws it, so a receiver back up is not hit by every delivery at once."""
    step = RETRY_STEPS[min(attempt, len(RETRY_STEPS)) - 1]
    return queueing.backoff_seconds(1, base=step, cap=step)


def _lease() -> timedelta:
    # httpx's timeout holds for each of connect, write and read: a send takes at most a few of them.
    return timedelta(seconds=4 * settings.CALLBACK_TIMEOUT_SECONDS + 30)


def _post(delivery: CallbackDelivery) -> tuple[int | None, str]:
    """One attempt: (the receiver's status code, or None; why it failed, or "")."""
    try:
        target = _target(delivery.url)
    except RefusedUrl as exc:
        return None, f"not sent: {exc}"
    timestamp = int(time.time())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": f"Emma/{settings.EMMA_VERSION} (completion callbacks)",
        "webhook-id": str(delivery.pk),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(tenant_id=delivery.tenant_id, webhook_id=str(delivery.pk),
                                              timestamp=timestamp, body=delivery.body),
    }
    # The vetted address is in the URL; TLS still checks the certificate against the name.
    extensions = {"sni_hostname": target.hostname} if target.url.startswith("https:") else {}
    try:
        with httpx.Client(timeout=settings.CALLBACK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
            # Streamed and never read: only the status matters, whatever the size of the answer.
            with client.stream("POST", target.url, content=delivery.body.encode(), headers=headers,
                               extensions=extensions) as response:
                status_code = response.status_code
    except httpx.TimeoutException as exc:
        return None, f"timed out after {settings.CALLBACK_TIMEOUT_SECONDS:g}s ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return status_code, "" if 200 <= status_code < 300 else f"the receiver answered {status_code}"


def _settle(delivery: CallbackDelivery, *, number: int, attempted_at, status_code: int | None, error: str,
            duration_ms: int | None) -> str:
    """Record attempt `number` and move the delivery on: delivered, pending its next attempt, or dead
    once RETRY_WINDOW has passed since the first. Only the holder of that attempt's claim records it."""
    now = timezone.now()
    wait = None
    if not error:
        outcome = "delivered"
        changes = {"status": Status.DELIVERED, "delivered_at": now, "next_attempt_at": None, "last_error": ""}
    elif now >= delivery.created_at + RETRY_WINDOW:
        outcome = "dead"
        changes = {"status": Status.DEAD, "next_attempt_at": None,
                   "last_error": f"gave up after {number} attempts: {error}"[:2000]}
    else:
        outcome = "retrying"
        wait = retry_delay_seconds(number)
        next_attempt_at = min(now + timedelta(seconds=wait), delivery.created_at + RETRY_WINDOW)
        changes = {"status": Status.PENDING, "next_attempt_at": next_attempt_at, "last_error": error[:2000]}
    with transaction.atomic():
        moved = CallbackDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING, attempt_count=number).update(
            lease_until=None, updated_at=now, **changes)
        if not moved:
            logger.warning("callback %s: attempt %s was settled by the sweep while it ran (its lease ran out)",
                           delivery.pk, number)
            return "lease-lost"
        CallbackAttempt.objects.create(delivery_id=delivery.pk, number=number, attempted_at=attempted_at,
                                       status_code=status_code, error=error[:2000], duration_ms=duration_ms)
    if wait is not None and wait <= MAX_COUNTDOWN_SECONDS:
        _publish(delivery.pk, countdown=wait)
    log = logger.warning if outcome == "dead" else logger.info
    log("callback %s of task %s attempt %s: %s%s", delivery.pk, delivery.task_id, number, outcome,
        f" ({error})" if error else "")
    return outcome


def callback_send(*, delivery_id) -> str:
    """Make the delivery's due attempt, once: claim it, check its address again, sign, POST, record.
    Returns what happened, for the log."""
    now = timezone.now()
    claimed = CallbackDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, attempt_count=F("attempt_count") + 1, lease_until=now + _lease(), updated_at=now)
    if not claimed:
        return "not-claimed"
    delivery = CallbackDelivery.objects.get(pk=delivery_id)
    started = time.perf_counter()
    try:
        status_code, error = _post(delivery)
    except Exception as exc:  # a bug of ours is a failed attempt, never a lost claim
        logger.exception("callback %s could not be sent", delivery_id)
        status_code, error = None, f"{type(exc).__name__}: {exc}"
    return _settle(delivery, number=delivery.attempt_count, attempted_at=now, status_code=status_code, error=error,
                   duration_ms=round((time.perf_counter() - started) * 1000))


# --- the sweep (beat) ---------------------------------------------------------------------------


def callbacks_send_due(*, limit: int = 500) -> dict:
    """Settle sends whose sender died (a failed attempt, the next one scheduled), create the callbacks
    whose hook was lost with its process, and publish the deliveries that are due."""
    now = timezone.now()
    lost = 0
    for delivery in CallbackDelivery.objects.filter(status=Status.SENDING, lease_until__lt=now)[:limit]:
        if _settle(delivery, number=delivery.attempt_count, attempted_at=delivery.lease_until - _lease(),
                   status_code=None, duration_ms=None,
                   error="its sender stopped before recording an answer (its lease ran out); "
                         "the receiver may have it") != "lease-lost":
            lost += 1
    created = 0
    for task in AgentTask.objects.filter(callback_url__isnull=False, status__in=AgentTask.FINAL_STATUSES,
                                         finished_at__gte=now - RETRY_WINDOW, finished_at__lt=now - LOST_HOOK_GRACE,
                                         callback__isnull=True)[:limit]:
        delivery = callback_delivery_create(task=task)  # None if its hook created it meanwhile
        if delivery is not None:
            _publish(delivery.pk)
            created += 1
    due = list(CallbackDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now - SWEEP_GRACE)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for delivery_id in due:
        _publish(delivery_id)
    return {"lost_senders": lost, "created": created, "published": len(due)}
