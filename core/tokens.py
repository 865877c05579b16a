"""The API's tokens: simplejwt's, each naming the tenant it acts in.

A refresh token carries `tenant_id` (and the tenant's slug, for the client), and every access token made
from it copies them; `core.authentication` resolves the caller's membership in that tenant on each request,
so a removed member's tokens stop working at once and a token never reaches another tenant's data. Refresh
tokens rotate: each use blacklists the one used (simplejwt's token_blacklist), as does logging out."""

import jwt
from django.contrib.auth import authenticate
from django.utils import timezone
from rest_framework import exceptions, serializers
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from core.authentication import TENANT_CLAIM
from core.errors import Invalid
from core.models import Membership
from core.selectors import memberships_of


def refresh_token_for(membership: Membership) -> RefreshToken:
    """A new refresh token (and, from it, access tokens) acting in the membership's tenant."""
    token = RefreshToken.for_user(membership.user)  # recorded as outstanding before it names its tenant:
    token[TENANT_CLAIM] = membership.tenant_id
    token["tenant"] = membership.tenant.slug
    # the record keeps the token as issued, so removing a member finds their tokens for that tenant
    # (core.services.member_remove).
    OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM]).update(token=str(token))
    return token


def refresh_tokens_blacklist(*, user, tenant_id: int | None = None) -> int:
    """End every unexpired refresh token of the user (those acting in `tenant_id` only, when given: read from
    the token as issued, whose signature was checked when it was made). Returns how many."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(),
                                                  blacklistedtoken__isnull=True)
    if tenant_id is not None:
        outstanding = [token for token in outstanding if _tenant_of(token.token) == tenant_id]
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding],
                                         ignore_conflicts=True)
    return len(outstanding)


def _tenant_of(token: str) -> int | None:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get(TENANT_CLAIM)
    except jwt.PyJWTError:
        return None


def token_pair(membership: Membership) -> dict:
    refresh = refresh_token_for(membership)
    return {"refresh": str(refresh), "access": str(refresh.access_token), "tenant": membership.tenant.slug}


def membership_named(user, tenant: str | None) -> Membership:
    """The user's membership in `tenant` (a slug); with none named, their only one. A user in several
    tenants who names none is told which they may choose (they have proved who they are)."""
    memberships = memberships_of(user)
    if tenant:
        for membership in memberships:
            if membership.tenant.slug == tenant:
                return membership
        raise Invalid(details={"tenant": [f"You are not a member of {tenant!r}."],
                               "tenants": [m.tenant.slug for m in memberships]})
    if len(memberships) == 1:
        return memberships[0]
    if not memberships:
        raise Invalid(details={"tenant": ["Your account belongs to no tenant; ask an admin to add you to one."]})
    raise Invalid(details={"tenant": ["You belong to several tenants: name one."],
                           "tenants": [m.tenant.slug for m in memberships]})


class TokenObtainSerializer(serializers.Serializer):
    """Username and password, and the tenant to act in (needed only by a user in several)."""

    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    tenant = serializers.SlugField(required=False)

    def validate(self, attrs):
        request = self.context.get("request")  # Django's own request: django-axes marks a lockout on it
        user = authenticate(getattr(request, "_request", request), username=attrs["username"],
                            password=attrs["password"])
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise exceptions.AuthenticationFailed("No active account found with the given credentials.",
                                                  "no_active_account")
        return token_pair(membership_named(user, attrs.get("tenant")))


class TokenRefreshSerializer(serializers.Serializer):
    """simplejwt's refresh (rotation, blacklisting), once the token's membership is known to still exist."""

    refresh = serializers.CharField()

    def validate(self, attrs):
        from rest_framework_simplejwt.serializers import TokenRefreshSerializer as Refresh

        token = RefreshToken(attrs["refresh"])  # checks signature, expiry and the blacklist
        if not Membership.objects.filter(user_id=token.get(api_settings.USER_ID_CLAIM),
                                         tenant_id=token.get(TENANT_CLAIM), user__is_active=True).exists():
            raise exceptions.AuthenticationFailed("This token's account is no longer a member of its tenant.",
                                                  "not_a_member")
        return {**Refresh().validate(attrs), "tenant": token.get("tenant")}
