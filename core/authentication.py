"""The API's authentication: simplejwt's token checks, and the caller's membership in the tenant the token
names read in the same query as the user (every API view needs the tenant and role). The membership must
still exist: a member removed from a tenant, or a token of one tenant, gets nothing there.

A machine sends an API key instead (`Authorization: Api-Key emma_<prefix>.<secret>`, core.models.APIKey): the
request acts as the key's backing user, in the key's tenant with the key's role."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication as drf_authentication
from rest_framework.throttling import BaseThrottle
from rest_framework_api_key.permissions import KeyParser
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.models import APIKey, Membership

# The claim of every Emma token that names the tenant it acts in (core/tokens.py makes them).
TENANT_CLAIM = "tenant_id"


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        user_id, tenant_id = validated_token.get(api_settings.USER_ID_CLAIM), validated_token.get(TENANT_CLAIM)
        if user_id is None or tenant_id is None:
            raise InvalidToken(_("The token names no user or no tenant; sign in again."))
        membership = (Membership.objects.select_related("user", "tenant")
                      .filter(user_id=user_id, tenant_id=tenant_id).first())
        if membership is None:
            raise AuthenticationFailed(_("This token's account is not a member of its tenant."), code="not_a_member")
        user = membership.user
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
                api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        user.membership = membership  # the request acts in this tenant (core.selectors.active_membership)
        return user


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of simplejwt's class (drf-spectacular matches exact classes only)."""

    target_class = JWTAuthentication


# A key's last use is written at most this often (one conditional UPDATE), not on every request.
LAST_USE_EVERY = timedelta(minutes=1)


class APIKeyAuthentication(drf_authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`: the key's backing user, acting in the key's tenant with its role (an
    unsaved Membership: a key is nobody's member and is never asked to approve anything). An unknown, wrong,
    revoked or expired key gets the same 401."""

    keyword = KeyParser.keyword
    message = _("This API key is not valid: it is unknown, revoked or expired.")

    def authenticate(self, request):
        key = KeyParser().get_from_authorization(request)
        if key is None:
            return None  # no API key: another authentication's request (or an anonymous one)
        try:
            api_key = APIKey.objects.get_from_key(key.strip())
        except APIKey.DoesNotExist:
            api_key = None
        if api_key is None or api_key.revoked or api_key.has_expired or not api_key.user.is_active:
            raise AuthenticationFailed(self.message, code="api_key_not_valid")
        user = api_key.user
        user.api_key = api_key
        user.membership = Membership(user=user, tenant=api_key.tenant, role=api_key.role)
        self._record_use(api_key, request)
        return user, api_key

    def authenticate_header(self, request):
        return self.keyword

    @staticmethod
    def _record_use(api_key: APIKey, request) -> None:
        now = timezone.now()
        if api_key.last_used_at is not None and api_key.last_used_at > now - LAST_USE_EVERY:
            return
        address = BaseThrottle().get_ident(request) or None  # the client's address, as the rate limits see it
        # Conditional, so concurrent requests of one key write it once a minute at most.
        APIKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USE_EVERY),
                              pk=api_key.pk).update(last_used_at=now, last_used_ip=address)
        api_key.last_used_at, api_key.last_used_ip = now, address


class APIKeyScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of API keys: the Authorization header, `Api-Key <key>`."""

    target_class = APIKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key emma_<prefix>.<secret>`: a tenant admin creates keys (POST /api/api-keys)."}
