from core.errors import Forbidden, NotFound
from core.models import APIKey, Invitation, Membership, Tenant

_UNSET = object()


def active_membership(user) -> Membership | None:
    """The membership a request acts in: the one its token names (the API), its session chose (the admin),
    or, for a caller that named none, a user's only one. Kept on the user object for the request; None for
    an anonymous caller, a user in no tenant, or one in several who named none."""
    if not getattr(user, "is_authenticated", False):
        return None
    membership = getattr(user, "membership", _UNSET)  # set by the authentication or the session middleware
    if membership is _UNSET:
        memberships = list(Membership.objects.filter(user=user).select_related("tenant")[:2])
        membership = user.membership = memberships[0] if len(memberships) == 1 else None
    return membership


def membership_for_user(user) -> Membership:
    """The caller's membership; a user who acts in no tenant may use no tenant data."""
    membership = active_membership(user)
    if membership is None:
        raise Forbidden("Your account acts in no tenant: ask an admin to add you to one, or name the tenant "
                        "when you sign in (POST /api/auth/token {\"tenant\": ...}).")
    return membership


def memberships_of(user) -> list[Membership]:
    """Every tenant the user belongs to, with their role there, by the tenant's slug."""
    return list(Membership.objects.filter(user=user).select_related("user", "tenant").order_by("tenant__slug"))


def invitations_of(*, tenant_id: int):
    """A tenant's invitations, newest first, with who sent and who accepted each."""
    return Invitation.objects.filter(tenant_id=tenant_id).select_related("invited_by", "accepted_by")


def members_of_tenant(tenant: Tenant):
    """The tenant's people with their roles, by username (API keys are nobody's members)."""
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def member_of_tenant(tenant: Tenant, membership_id: int) -> Membership:
    """One of the tenant's members; another tenant's, or none, is not found."""
    membership = members_of_tenant(tenant).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


def api_keys_of_tenant(tenant: Tenant):
    """The tenant's API keys, newest first, revoked ones included (their history)."""
    return APIKey.objects.filter(tenant=tenant).select_related("created_by").order_by("-created", "-pk")
