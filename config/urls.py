from django.contrib import admin
from django.urls import path
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from emma import api as emma_api

urlpatterns = [
    path("health", emma_api.health_view, name="health"),
    path("health/live", emma_api.live_view, name="health-live"),
    path("health/ready", emma_api.ready_view, name="health-ready"),
    path("version", emma_api.version_view, name="version"),
    path("metrics", ExportToDjangoView, name="metrics"),
    path("api/auth/token", TokenObtainPairView.as_view(), name="token-obtain"),
    path("api/auth/token/refresh", TokenRefreshView.as_view(), name="token-refresh"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/me", emma_api.MeApi.as_view(), name="me"),
    path("admin/", admin.site.urls),
]

handler400 = "emma.errors.bad_request"
handler403 = "emma.errors.permission_denied"
handler404 = "emma.errors.not_found"
handler500 = "emma.errors.server_error"
