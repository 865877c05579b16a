"""Public probes (/health, /version), signing up, in and out (/api/auth/...), the caller's identity (/api/me),
and a tenant admin's invitations (/api/invitations), members (/api/members) and API keys (/api/api-keys)."""

import platform

import django
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer
from rest_framework_simplejwt.views import TokenViewBase

from core import accounts, health, selectors, services, tokens
from core.authentication import JWTAuthentication
from core.models import APIKey, Invitation, Membership
from core.schema import error_response
from core.selectors import (api_keys_of_tenant, member_of_tenant, members_of_tenant, membership_for_user,
                            memberships_of)
from core.serializers import (IsPerson, IsTenantAdmin, ListFilterSerializer, Pagination, StrictSerializer,
                              paginated_response)
from core.throttling import AccountThrottle, PerMinuteThrottle


# A tenant admin's screens for people, keys and invitations: an API key is told it may not (it must not make
# itself keys or accounts), then anyone but an admin.
PEOPLE_ONLY = (IsPerson, IsTenantAdmin)


@extend_schema_serializer(component_name="TokenPair")
class TokenPairSerializer(serializers.Serializer):
    refresh = serializers.CharField()
    access = serializers.CharField()
    tenant = serializers.CharField(help_text="The tenant these tokens act in.")


@require_GET
def health_view(request):
    report = health.run_checks()
    return JsonResponse(report, status=503 if report["status"] == "unhealthy" else 200)


@require_GET
def live_view(request):
    return JsonResponse({"status": "alive"})


@require_GET
def ready_view(request):
    report = health.readiness()
    return JsonResponse(report, status=200 if report["status"] == "ready" else 503)


@require_GET
def version_view(request):
    return JsonResponse({
        "name": "emma",
        "version": settings.EMMA_VERSION,
        "python": platform.python_version(),
        "django": django.get_version(),
    })


class MeApi(APIView):
    @extend_schema_serializer(component_name="MeOutput")
    class OutputSerializer(serializers.Serializer):
        class MembershipSerializer(serializers.Serializer):
            tenant = serializers.CharField(source="tenant.slug")
            tenant_name = serializers.CharField(source="tenant.name")
            role = serializers.CharField()

        username = serializers.CharField()
        tenant = serializers.CharField(help_text="The tenant this request acts in (its token's).")
        role = serializers.CharField(help_text="Your role in that tenant.")
        memberships = MembershipSerializer(many=True, help_text="Every tenant you belong to.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        membership = membership_for_user(request.user)
        return Response(self.OutputSerializer({
            "username": request.user.get_username(),
            "tenant": membership.tenant.slug,
            "role": membership.role,
            "memberships": memberships_of(request.user),
        }).data)


class _TokenView(TokenViewBase):
    """simplejwt's token views (a token error is a 401) with Emma's serializers, for anyone."""

    authentication_classes = ()
    permission_classes = ()


@extend_schema_view(post=extend_schema(responses={
    200: TokenPairSerializer,
    401: error_response("No active account has this username and password (`no_active_account`).")}))
class TokenObtainApi(_TokenView):
    """Sign in: a refresh and an access token acting in one tenant (name it when you belong to several)."""

    serializer_class = tokens.TokenObtainSerializer


@extend_schema_view(post=extend_schema(responses={
    200: TokenPairSerializer,
    401: error_response("The refresh token is malformed, forged, expired or used (`token_not_valid`), or its "
                        "account left its tenant (`not_a_member`).")}))
class TokenRefreshApi(_TokenView):
    """A new access token and a new refresh token; the one sent is blacklisted (each works once)."""

    serializer_class = tokens.TokenRefreshSerializer


class LogoutApi(_TokenView):
    """Blacklist a refresh token: it can make no more access tokens (those already made expire on their own)."""

    serializer_class = TokenBlacklistSerializer

    @extend_schema(responses={
        204: None, 401: error_response("The refresh token is malformed, forged or expired (`token_not_valid`).")})
    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)  # simplejwt's: the token checked, then blacklisted
        return Response(status=204)


class SwitchTenantApi(APIView):
    """Tokens acting in another tenant you belong to."""

    @extend_schema_serializer(component_name="SwitchTenantInput")
    class InputSerializer(serializers.Serializer):
        tenant = serializers.SlugField()

    @extend_schema(request=InputSerializer, responses={200: TokenPairSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(tokens.token_pair(tokens.membership_named(request.user, serializer.validated_data["tenant"])))


# --- people: sign-up, verification, password reset, invitations (core.accounts) -----------------------


def _base_url(request) -> str:
    """The site's address as this request reached it (links use PUBLIC_BASE_URL instead when it is set)."""
    return request.build_absolute_uri("/")


@extend_schema_serializer(component_name="AccountAccepted")
class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


LINK_NOT_VALID = error_response("The link's key or token is unknown, used, expired or revoked "
                                "(`link_not_valid`: one answer for all), or a field is invalid "
                                "(`validation_error`).")


class _AccountApi(APIView):
    """A public account endpoint: no token read, rate limited per client address (AccountThrottle) on top of
    the usual limit."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = (PerMinuteThrottle, AccountThrottle)


class RegisterApi(_AccountApi):
    """Sign up (EMMA_SIGNUP=open): a new tenant and you as its admin, active once you follow the link mailed
    to you. The answer is the same whether the email already has an account (that address gets a mail
    saying so instead)."""

    @extend_schema_serializer(component_name="RegisterInput")
    class InputSerializer(StrictSerializer):
        email = serializers.EmailField(max_length=150, help_text="Also your username.")
        password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
        tenant_name = serializers.CharField(max_length=200, help_text="Your organisation's name.")

    @extend_schema(request=InputSerializer, responses={
        202: AcceptedSerializer,
        403: error_response("Sign-up is by invitation only on this deployment (`signup_closed`).")})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts.signup_register(**serializer.validated_data, base_url=_base_url(request))
        return Response({"detail": "Check your email: follow the link we sent to activate your account."},
                        status=202)


class VerifyEmailApi(_AccountApi):
    """Follow a sign-up's verification link, with the password chosen at sign-up: the account becomes active;
    tokens acting in its tenant."""

    @extend_schema_serializer(component_name="VerifyEmailInput")
    class InputSerializer(StrictSerializer):
        key = serializers.CharField(max_length=1000)
        password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"},
                                         help_text="The password chosen at sign-up.")

    @extend_schema(request=InputSerializer, responses={
        200: TokenPairSerializer,
        400: error_response("The link is not valid any more (`link_not_valid`), or the password is not the "
                            "sign-up's (`validation_error` on `password`).")})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(accounts.email_verify(**serializer.validated_data))


class PasswordResetApi(_AccountApi):
    """Ask for a password reset link by email. The answer is the same whether the email has an account."""

    @extend_schema_serializer(component_name="PasswordResetInput")
    class InputSerializer(StrictSerializer):
        email = serializers.EmailField(max_length=254)

    @extend_schema(request=InputSerializer, responses={202: AcceptedSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts.password_reset_request(**serializer.validated_data, base_url=_base_url(request))
        return Response({"detail": "If an account has this email, a reset link is on its way."}, status=202)


class PasswordResetConfirmApi(_AccountApi):
    """Set a new password with the uid and token of a reset link: it works once; every refresh token of the
    account stops working, and its sign-in lockout is lifted."""

    @extend_schema_serializer(component_name="PasswordResetConfirmInput")
    class InputSerializer(StrictSerializer):
        uid = serializers.CharField(max_length=64)
        token = serializers.CharField(max_length=128)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False,
                                             style={"input_type": "password"})

    @extend_schema(request=InputSerializer, responses={204: None, 400: LINK_NOT_VALID})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts.password_reset_confirm(**serializer.validated_data)
        return Response(status=204)


class AcceptInviteApi(_AccountApi):
    """Accept an invitation with the token of its link: with a username and password (a new account, or
    one you have), or, with neither, as the account whose access token you send. Tokens acting in the
    invitation's tenant."""

    authentication_classes = (JWTAuthentication,)
    permission_classes = (AllowAny,)

    @extend_schema_serializer(component_name="AcceptInviteInput")
    class InputSerializer(StrictSerializer):
        token = serializers.CharField(max_length=128)
        username = serializers.CharField(max_length=150, required=False,
                                         help_text="A new account's, or yours (then `password` is its password).")
        password = serializers.CharField(max_length=128, required=False, trim_whitespace=False,
                                         style={"input_type": "password"})

    @extend_schema(request=InputSerializer, responses={
        200: TokenPairSerializer, 400: LINK_NOT_VALID,
        401: error_response("A token was sent, and it is malformed, forged or expired (`token_not_valid`), or its "
                            "account is inactive or left its tenant; send none to join with a username and password."),
        409: error_response("The account already belongs to the invitation's tenant (`conflict`).")})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(accounts.invitation_accept(
            token=data["token"], username=data.get("username", ""), password=data.get("password", ""),
            user=request.user, request=request._request))


@extend_schema_serializer(component_name="Invitation")
class InvitationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    accepted_by = serializers.CharField(source="accepted_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class InvitationsApi(APIView):
    """A tenant admin's invitations: the list (with each one's status, never its token), and a new one,
    mailed to the invitee."""

    permission_classes = PEOPLE_ONLY
    pagination_class = Pagination

    @extend_schema_serializer(component_name="InvitationInput")
    class InputSerializer(StrictSerializer):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.SUBMITTER)

    @extend_schema_serializer(component_name="InvitationCreated")
    class CreatedSerializer(InvitationOutputSerializer):
        link = serializers.CharField(help_text="The link mailed to the invitee, shown this once.")

    @extend_schema(parameters=[ListFilterSerializer], responses=InvitationOutputSerializer(many=True))
    def get(self, request):
        ListFilterSerializer.filters(request)
        tenant_id = membership_for_user(request.user).tenant_id
        return paginated_response(request, self, selectors.invitations_of(tenant_id=tenant_id),
                                  InvitationOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_for_user(request.user)
        invitation, link = accounts.invitation_create(tenant=membership.tenant, invited_by=request.user,
                                                      base_url=_base_url(request), **serializer.validated_data)
        invitation.link = link
        return Response(self.CreatedSerializer(invitation).data, status=201)


class InvitationDetailApi(APIView):
    """Revoke an invitation: its link stops working. Revoking one twice is no error; an accepted one is a 409."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(responses={204: None, 409: error_response("The invitation was accepted (`conflict`).")})
    def delete(self, request, invitation_id):
        accounts.invitation_revoke(tenant_id=membership_for_user(request.user).tenant_id,
                                   invitation_id=invitation_id, actor=request.user)
        return Response(status=204)


# --- a tenant admin's members and API keys ----------------------------------------------------------

LAST_ADMIN = error_response("The member is the tenant's last admin (`conflict`): make another member admin first.")


@extend_schema_serializer(component_name="MemberOutput")
class MemberOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The membership's id (PATCH/DELETE /api/members/{id}).")
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email", help_text="Empty when none is on file.")
    role = serializers.CharField()
    joined = serializers.DateTimeField(source="created_at")
    last_login = serializers.DateTimeField(source="user.last_login", allow_null=True,
                                           help_text="The last sign-in to the admin (API sign-ins are not recorded).")


class MembersApi(APIView):
    """The tenant's members and their roles (tenant admins; API keys are not members)."""

    permission_classes = PEOPLE_ONLY
    pagination_class = Pagination

    @extend_schema_serializer(component_name="MemberListFilter")
    class FilterSerializer(ListFilterSerializer):
        pass

    @extend_schema(parameters=[FilterSerializer], responses=MemberOutputSerializer(many=True))
    def get(self, request):
        self.FilterSerializer.filters(request)
        tenant = membership_for_user(request.user).tenant
        return paginated_response(request, self, members_of_tenant(tenant), MemberOutputSerializer)


class MemberDetailApi(APIView):
    """Change a member's role, or remove them from the tenant (their tokens and the API keys they created here
    stop at once). Tenant admins; the last admin stays."""

    permission_classes = PEOPLE_ONLY

    @extend_schema_serializer(component_name="MemberChangeInput")
    class InputSerializer(StrictSerializer):
        role = serializers.ChoiceField(choices=Membership.Role.choices, required=False,
                                       help_text="The member's new role; left out, nothing changes.")

    @extend_schema(request=InputSerializer, responses={200: MemberOutputSerializer, 409: LAST_ADMIN})
    def patch(self, request, membership_id: int):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tenant = membership_for_user(request.user).tenant
        role = payload.validated_data.get("role")
        membership = (services.member_role_change(membership_id=membership_id, tenant=tenant, by=request.user,
                                                  role=role)
                      if role is not None else member_of_tenant(tenant, membership_id))
        return Response(MemberOutputSerializer(membership).data)

    @extend_schema(request=None, responses={204: None, 409: LAST_ADMIN})
    def delete(self, request, membership_id: int):
        services.member_remove(membership_id=membership_id, tenant=membership_for_user(request.user).tenant,
                               by=request.user)
        return Response(status=204)


@extend_schema_serializer(component_name="APIKeyOutput")
class APIKeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key reads `emma_<prefix>.<secret>`; its actions are audited as "
                                             "`key:<prefix>`.")
    role = serializers.CharField()
    task_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every task type.")
    rate_limit_per_min = serializers.IntegerField(allow_null=True, help_text="Null: the deployment's limit.")
    status = serializers.ChoiceField(choices=APIKey.STATUSES)
    created_at = serializers.DateTimeField(source="created")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    expires_at = serializers.DateTimeField(source="expiry_date", allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = serializers.IPAddressField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="APIKeyCreated")
class APIKeyCreatedSerializer(APIKeyOutputSerializer):
    key = serializers.CharField(help_text="The key, shown this once: only its hash is kept. Send it as "
                                          "`Authorization: Api-Key <key>`.")


class APIKeysApi(APIView):
    """The tenant's API keys (tenant admins): list them, or create one (its key is in this answer only)."""

    permission_classes = PEOPLE_ONLY
    pagination_class = Pagination

    @extend_schema_serializer(component_name="APIKeyCreateInput")
    class InputSerializer(StrictSerializer):
        name = serializers.CharField(max_length=50)
        role = serializers.ChoiceField(choices=Membership.Role.choices)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        task_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                           max_length=services.MAX_KEY_TASK_TYPES, default=list,
                                           help_text="The task types the key may submit; empty or left out: all.")
        rate_limit_per_min = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                                      max_value=services.MAX_KEY_RATE_LIMIT)

    @extend_schema_serializer(component_name="APIKeyListFilter")
    class FilterSerializer(ListFilterSerializer):
        pass

    @extend_schema(parameters=[FilterSerializer], responses=APIKeyOutputSerializer(many=True))
    def get(self, request):
        self.FilterSerializer.filters(request)
        tenant = membership_for_user(request.user).tenant
        return paginated_response(request, self, api_keys_of_tenant(tenant), APIKeyOutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: APIKeyCreatedSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        api_key, key = services.api_key_create(tenant=membership_for_user(request.user).tenant,
                                               created_by=request.user, **payload.validated_data)
        api_key.key = key
        return Response(APIKeyCreatedSerializer(api_key).data, status=201, headers={"Cache-Control": "no-store"})


class APIKeyDetailApi(APIView):
    """Revoke an API key: its next request is a 401. Revoking it again changes nothing (204)."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, key_id: int):
        services.api_key_revoke(key_id=key_id, tenant=membership_for_user(request.user).tenant, by=request.user)
        return Response(status=204)
