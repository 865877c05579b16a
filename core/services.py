from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import registries
from core.audit import account_audit
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import APIKey, Membership, Tenant
from core.tokens import refresh_tokens_blacklist

# What a request made with an API key is told when it tries to manage keys or members.
KEYS_MAY_NOT_MANAGE = "API keys cannot manage API keys or members; sign in as a person."
MAX_KEY_TASK_TYPES = 50
MAX_KEY_RATE_LIMIT = 100_000


@transaction.atomic
def tenant_get_or_create(*, slug: str, name: str | None = None) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return tenant


@transaction.atomic
def user_upsert(*, username: str, password: str | None, tenant_slug: str, role: str,
                is_staff: bool = False, is_superuser: bool = False):
    """Create or update a user and their membership in the tenant (created if missing), with this role
    there; their memberships of other tenants stay as they are. Approvers and admins get staff access, so
    they can decide escalations in the admin."""
    if role not in Membership.Role.values:
        raise Invalid.field("role", f"role must be one of {', '.join(Membership.Role.values)}")
    tenant = tenant_get_or_create(slug=tenant_slug)
    user, _ = get_user_model().objects.get_or_create(username=username)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise Invalid(details={"password": list(exc.messages)}) from None
        user.set_password(password)
    user.is_staff = is_staff or is_superuser or role in Membership.DECIDING_ROLES
    user.is_superuser = is_superuser or user.is_superuser
    user.save()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return user


def refuse_api_keys(user) -> None:
    """Keys and members are managed by people: a request made with an API key may not."""
    if getattr(user, "api_key", None) is not None:
        raise Forbidden(KEYS_MAY_NOT_MANAGE)


def staff_sync(user) -> None:
    """Staff (the admin's approval screens) while the user approves or administers somewhere; a superuser keeps
    it."""
    staff = user.is_superuser or Membership.objects.filter(user=user, role__in=Membership.DECIDING_ROLES).exists()
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


# --- API keys ---------------------------------------------------------------------------------------


def _key_facts(api_key: APIKey) -> dict:
    return {"name": api_key.name, "prefix": api_key.prefix, "role": api_key.role, "task_types": api_key.task_types,
            "rate_limit_per_min": api_key.rate_limit_per_min,
            "expires_at": api_key.expiry_date.isoformat() if api_key.expiry_date else None,
            "revoked": api_key.revoked}


def _checked_task_types(task_types) -> list[str]:
    if task_types is None:
        return []
    if not isinstance(task_types, list | tuple) or not all(isinstance(name, str) and name for name in task_types):
        raise Invalid.field("task_types", "A list of task type names.")
    if len(task_types) > MAX_KEY_TASK_TYPES:
        raise Invalid.field("task_types", f"At most {MAX_KEY_TASK_TYPES} task types.")
    known = registries.task_type_names()
    unknown = sorted(set(task_types) - known) if known is not None else []
    if unknown:
        raise Invalid.field("task_types", f"Unknown task types: {', '.join(unknown)}. "
                                          f"Known: {', '.join(sorted(known))}.")
    return sorted(set(task_types))


@transaction.atomic
def api_key_create(*, tenant: Tenant, created_by, name: str, role: str, expires_at: datetime | None = None,
                   task_types: list[str] | None = None, rate_limit_per_min: int | None = None) -> tuple[APIKey, str]:
    """A new API key of the tenant, with a role, and the key itself: returned this once, only its hash is kept.
    It acts as a backing user of its own (`key:<prefix>`: no password, never staff, in no tenant's member list),
    so what it does is audited as the key. `task_types` (registered ones) limits what it may submit; empty, all.
    A request made with an API key may not create one."""
    refuse_api_keys(created_by)
    name = (name or "").strip()
    if not name or len(name) > 50 or "\x00" in name:
        raise Invalid.field("name", "A name of 1 to 50 characters.")
    if role not in Membership.Role.values:
        raise Invalid.field("role", f"role must be one of {', '.join(Membership.Role.values)}")
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid.field("expires_at", "The expiry must be in the future.")
    if rate_limit_per_min is not None and not 1 <= rate_limit_per_min <= MAX_KEY_RATE_LIMIT:
        raise Invalid.field("rate_limit_per_min", f"Between 1 and {MAX_KEY_RATE_LIMIT} requests a minute.")
    api_key = APIKey(tenant=tenant, name=name, role=role, expiry_date=expires_at,
                     task_types=_checked_task_types(task_types), rate_limit_per_min=rate_limit_per_min,
                     created_by=created_by if getattr(created_by, "pk", None) else None)
    key = APIKey.objects.assign_key(api_key)
    user = get_user_model()(username=api_key.username, is_active=True, is_staff=False, is_superuser=False)
    user.set_unusable_password()
    user.save()
    api_key.user = user
    api_key.save()
    account_audit(tenant_id=tenant.pk, actor=created_by.get_username(), action="api_key.created",
                  object_type="api_key", object_id=api_key.pk, after=_key_facts(api_key))
    return api_key, key


@transaction.atomic
def api_key_revoke(*, key_id: int, tenant: Tenant, by) -> APIKey:
    """Revoke one of the tenant's keys: its next request is a 401 (its backing user is deactivated too).
    Revoking a revoked key changes nothing; another tenant's key does not exist here (NotFound)."""
    refuse_api_keys(by)
    api_key = APIKey.objects.select_for_update().filter(pk=key_id, tenant=tenant).select_related("user").first()
    if api_key is None:
        raise NotFound("No such API key.")
    if api_key.revoked:
        return api_key
    before = _key_facts(api_key)
    api_key.revoked, api_key.revoked_at = True, timezone.now()
    api_key.revoked_by = by if getattr(by, "pk", None) else None
    api_key.save(update_fields=["revoked", "revoked_at", "revoked_by"])
    api_key.user.is_active = False
    api_key.user.save(update_fields=["is_active"])
    account_audit(tenant_id=tenant.pk, actor=by.get_username(), action="api_key.revoked", object_type="api_key",
                  object_id=api_key.pk, before=before, after=_key_facts(api_key))
    return api_key


# --- members ----------------------------------------------------------------------------------------


def _member(*, membership_id: int, tenant: Tenant) -> Membership:
    """The member, with the tenant's row locked first: one change to a tenant's members at a time, so two
    admins demoting each other wait their turn instead of deadlocking on each other's rows."""
    list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk"))
    membership = (Membership.objects.select_for_update().select_related("user", "tenant")
                  .filter(pk=membership_id, tenant=tenant).first())
    if membership is None:
        raise NotFound("No such member.")
    return membership


def _refuse_last_admin(membership: Membership, doing: str) -> None:
    """A tenant keeps at least one admin who can still sign in: its admin rows are locked (in one order), so two
    admins demoting each other at once cannot both succeed."""
    if membership.role != Membership.Role.ADMIN:
        return
    admins = list(Membership.objects.select_for_update(of=("self",))
                  .filter(tenant_id=membership.tenant_id, role=Membership.Role.ADMIN, user__is_active=True)
                  .order_by("pk").values_list("pk", flat=True))
    if admins == [membership.pk]:
        raise Conflict(f"{membership.user.get_username()} is this tenant's last admin: make another member admin "
                       f"before you {doing} them.")


@transaction.atomic
def member_role_change(*, membership_id: int, tenant: Tenant, by, role: str) -> Membership:
    """A member's role in the tenant, from their next request (every request re-reads it). The tenant's last
    admin stays admin (409); approvers and admins are staff (the admin's approval screens)."""
    refuse_api_keys(by)
    if role not in Membership.Role.values:
        raise Invalid.field("role", f"role must be one of {', '.join(Membership.Role.values)}")
    membership = _member(membership_id=membership_id, tenant=tenant)
    if membership.role == role:
        return membership
    if role != Membership.Role.ADMIN:
        _refuse_last_admin(membership, "demote")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    staff_sync(membership.user)
    # A member keeps no key that outranks them now: a demoted admin's admin keys would keep what was taken.
    revoked = _revoke_keys_of(membership.user, tenant=tenant, by=by, above=role)
    account_audit(tenant_id=tenant.pk, actor=by.get_username(), action="member.role_changed",
                  object_type="membership", object_id=membership.pk,
                  before={"username": membership.user.get_username(), "role": before},
                  after={"username": membership.user.get_username(), "role": role, "api_keys_revoked": revoked})
    return membership


RANK = {Membership.Role.SUBMITTER: 0, Membership.Role.APPROVER: 1, Membership.Role.ADMIN: 2}


def _revoke_keys_of(user, *, tenant: Tenant, by, above: str | None = None) -> int:
    """Revoke the live keys the user created in the tenant (those of a role above `above` only, when given)."""
    keys = APIKey.objects.filter(tenant=tenant, created_by=user, revoked=False)
    if above is not None:
        keys = keys.filter(role__in=[role for role, rank in RANK.items() if rank > RANK[above]])
    key_ids = list(keys.values_list("pk", flat=True))
    for key_id in key_ids:
        api_key_revoke(key_id=key_id, tenant=tenant, by=by)
    return len(key_ids)


@transaction.atomic
def member_remove(*, membership_id: int, tenant: Tenant, by) -> None:
    """Remove a member from the tenant, at once: their access tokens stop (every request re-reads the
    membership), their refresh tokens for this tenant are blacklisted and the API keys they created here are
    revoked. Their memberships of other tenants stay. The tenant's last admin cannot be removed (409)."""
    refuse_api_keys(by)
    membership = _member(membership_id=membership_id, tenant=tenant)
    _refuse_last_admin(membership, "remove")
    user = membership.user
    revoked = _revoke_keys_of(user, tenant=tenant, by=by)
    blacklisted = refresh_tokens_blacklist(user=user, tenant_id=tenant.pk)
    before = {"username": user.get_username(), "role": membership.role}
    membership_pk = membership.pk
    membership.delete()
    staff_sync(user)
    account_audit(tenant_id=tenant.pk, actor=by.get_username(), action="member.removed", object_type="membership",
                  object_id=membership_pk, before=before,
                  after={"api_keys_revoked": revoked, "refresh_tokens_blacklisted": blacklisted})
