"""The API's authentication: simplejwt's token checks, and the caller's membership in the tenant the token
names read in the same query as the user (every API view needs the tenant and role). The membership must
still exist: a member removed from a tenant, or a token of one tenant, gets nothing there."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.models import Membership

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
