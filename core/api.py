"""Public probes (/health, /version) and the caller's identity (/api/me)."""

import platform

import django
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import health
from core.selectors import membership_for_user


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
        username = serializers.CharField()
        tenant = serializers.CharField()
        role = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        membership = membership_for_user(request.user)
        return Response(self.OutputSerializer({
            "username": request.user.get_username(),
            "tenant": membership.tenant.slug,
            "role": membership.role,
        }).data)
