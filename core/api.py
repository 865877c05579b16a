"""Public probes (/health, /version), signing in and out (/api/auth/...), and the caller's identity (/api/me)."""

import platform

import django
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer
from rest_framework_simplejwt.views import TokenViewBase

from core import health, tokens
from core.schema import error_response
from core.selectors import membership_for_user, memberships_of


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
