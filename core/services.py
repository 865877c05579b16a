from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import Invalid
from core.models import Membership, Tenant


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
    user.is_staff = is_staff or is_superuser or role in (Membership.Role.APPROVER, Membership.Role.ADMIN)
    user.is_superuser = is_superuser or user.is_superuser
    user.save()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return user
