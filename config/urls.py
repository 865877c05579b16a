from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import api as core_api
from core import metrics as core_metrics
from core import views as core_views
from core.configuration import api as config_api
from emma import api as emma_api
from governance import api as governance_api
from integrations import api as integrations_api
from integrations.dora import api as dora_api
from integrations.github import oauth as github_oauth

urlpatterns = [
    path("health", core_api.health_view, name="health"),
    path("health/live", core_api.live_view, name="health-live"),
    path("health/ready", core_api.ready_view, name="health-ready"),
    path("version", core_api.version_view, name="version"),
    path("metrics", core_metrics.metrics_view, name="metrics"),
    path("api/auth/token", core_api.TokenObtainApi.as_view(), name="token-obtain"),
    path("api/auth/token/refresh", core_api.TokenRefreshApi.as_view(), name="token-refresh"),
    path("api/auth/logout", core_api.LogoutApi.as_view(), name="logout"),
    path("api/auth/switch-tenant", core_api.SwitchTenantApi.as_view(), name="switch-tenant"),
    path("api/auth/register", core_api.RegisterApi.as_view(), name="register"),
    path("api/auth/verify-email", core_api.VerifyEmailApi.as_view(), name="verify-email"),
    path("api/auth/password-reset", core_api.PasswordResetApi.as_view(), name="password-reset"),
    path("api/auth/password-reset/confirm", core_api.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
    path("api/auth/accept-invite", core_api.AcceptInviteApi.as_view(), name="accept-invite"),
    path("api/invitations", core_api.InvitationsApi.as_view(), name="invitations"),
    path("api/invitations/<uuid:invitation_id>", core_api.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("accept-invite/<str:token>", core_views.AcceptInvitePage.as_view(), name="accept-invite-page"),
    path("verify-email/<str:key>", core_views.VerifyEmailPage.as_view(), name="verify-email-page"),
    path("reset-password/<str:uid>/<str:token>", core_views.ResetPasswordPage.as_view(), name="reset-password-page"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/me", core_api.MeApi.as_view(), name="me"),
    path("api/members", core_api.MembersApi.as_view(), name="members"),
    path("api/members/<int:membership_id>", core_api.MemberDetailApi.as_view(), name="member-detail"),
    path("api/api-keys", core_api.APIKeysApi.as_view(), name="api-keys"),
    path("api/api-keys/<int:key_id>", core_api.APIKeyDetailApi.as_view(), name="api-key-detail"),
    path("api/integrations/providers", integrations_api.ProvidersApi.as_view(), name="webhook-providers"),
    path("api/integrations/endpoints", integrations_api.EndpointsApi.as_view(), name="webhook-endpoints"),
    path("api/integrations/endpoints/<uuid:endpoint_id>", integrations_api.EndpointDetailApi.as_view(),
         name="webhook-endpoint-detail"),
    path("api/integrations/endpoints/<uuid:endpoint_id>/rotate", integrations_api.EndpointRotateApi.as_view(),
         name="webhook-endpoint-rotate"),
    path("api/integrations/deliveries", integrations_api.DeliveriesApi.as_view(), name="webhook-deliveries"),
    path("api/integrations/deliveries/redrive", integrations_api.DeliveriesRedriveApi.as_view(),
         name="webhook-deliveries-redrive"),
    path("api/integrations/deliveries/<int:delivery_id>", integrations_api.DeliveryDetailApi.as_view(),
         name="webhook-delivery-detail"),
    path("api/integrations/deliveries/<int:delivery_id>/replay", integrations_api.DeliveryReplayApi.as_view(),
         name="webhook-delivery-replay"),
    path("api/tasks", emma_api.TaskListCreateApi.as_view(), name="tasks"),
    path("api/tasks/batch", emma_api.TaskBatchApi.as_view(), name="tasks-batch"),
    path("api/tasks/callback-secret", emma_api.CallbackSecretApi.as_view(), name="task-callback-secret"),
    path("api/tasks/<uuid:task_id>", emma_api.TaskDetailApi.as_view(), name="task-detail"),
    path("api/tasks/<uuid:task_id>/events", emma_api.TaskEventsApi.as_view(), name="task-events"),
    path("api/tasks/<uuid:task_id>/cancel", emma_api.TaskCancelApi.as_view(), name="task-cancel"),
    path("api/task-types", emma_api.TaskTypesApi.as_view(), name="task-types"),
    path("api/escalations/active", governance_api.EscalationsActiveApi.as_view(), name="escalations-active"),
    path("api/escalations/<uuid:escalation_id>", governance_api.EscalationDetailApi.as_view(),
         name="escalation-detail"),
    path("api/escalations/<uuid:escalation_id>/approve", governance_api.EscalationApproveApi.as_view(),
         name="escalation-approve"),
    path("api/escalations/<uuid:escalation_id>/reject", governance_api.EscalationRejectApi.as_view(),
         name="escalation-reject"),
    path("api/escalations/<uuid:escalation_id>/reply", governance_api.EscalationReplyApi.as_view(),
         name="escalation-reply"),
    path("api/governance/policy", governance_api.PolicyApi.as_view(), name="policy"),
    path("api/governance/policy/versions", governance_api.PolicyVersionsApi.as_view(), name="policy-versions"),
    path("api/governance/policy/rollback", governance_api.PolicyRollbackApi.as_view(), name="policy-rollback"),
    path("api/governance/policy/simulate", governance_api.PolicySimulateApi.as_view(), name="policy-simulate"),
    path("api/governance/suggestions", governance_api.SuggestionsApi.as_view(), name="governance-suggestions"),
    path("api/governance/suggestions/accept", governance_api.SuggestionAcceptApi.as_view(),
         name="governance-suggestions-accept"),
    path("api/governance/stats", governance_api.StatsApi.as_view(), name="governance-stats"),
    path("api/governance/delegations", governance_api.DelegationsApi.as_view(), name="delegations"),
    path("api/governance/delegations/<int:delegation_id>/revoke", governance_api.DelegationRevokeApi.as_view(),
         name="delegation-revoke"),
    path("api/audit", governance_api.AuditApi.as_view(), name="audit"),
    path("api/config", config_api.ConfigListApi.as_view(), name="config"),
    path("api/config/import", config_api.ConfigImportApi.as_view(), name="config-import"),
    path("api/config/<slug:document>", config_api.ConfigDocumentApi.as_view(), name="config-document"),
    path("api/config/<slug:document>/versions", config_api.ConfigVersionsApi.as_view(), name="config-versions"),
    path("api/config/<slug:document>/rollback", config_api.ConfigRollbackApi.as_view(), name="config-rollback"),
    path("api/config/<slug:document>/export", config_api.ConfigExportApi.as_view(), name="config-export"),
    path("api/dora/summary", dora_api.DoraSummaryApi.as_view(), name="dora-summary"),
    path("api/dora/deployments", dora_api.DoraDeploymentsApi.as_view(), name="dora-deployments"),
    path("api/dora/changes", dora_api.DoraChangesApi.as_view(), name="dora-changes"),
    path("api/dora/incidents", dora_api.DoraIncidentsApi.as_view(), name="dora-incidents"),
    path("api/memory/", include("memory.urls")),
    path("api/drafts", include("drafting.urls")),
    path("webhooks/", include("integrations.urls")),
    path("oauth/github/authorize", github_oauth.GitHubAuthorizeView.as_view(), name="github-oauth-authorize"),
    path("oauth/github/callback", github_oauth.GitHubCallbackView.as_view(), name="github-oauth-callback"),
    path("admin/", admin.site.urls),
]

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"
