"""The DORA screens of the admin: a panel on every member's home page linking to the dashboard of the four
figures (levels, twelve weeks of trend, drill-down to the rows behind each figure) of the tenant the session
acts in (superusers choose a tenant); read-only lists of the deployments, changes and incidents; and the
tenant's weekly digest, edited by its admins."""

from datetime import timedelta
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from core.admin import TenantReadOnlyAdmin, TenantScoped
from core.charts import bar_chart
from core.models import Membership, Tenant
from core.registries import HomePanel, register_home_panel
from integrations import signals as s
from integrations.dora import selectors
from integrations.dora.models import Change, Deployment, DoraDigest, Incident
from integrations.models import RoutingRule

EVERY_ROLE = tuple(Membership.Role.values)


class _EngineeringAdmin(TenantReadOnlyAdmin):
    roles = EVERY_ROLE
    show_full_result_count = False


@admin.register(Deployment)
class DeploymentAdmin(_EngineeringAdmin):
    """Deployments as the tools reported them; the DORA dashboard (a link above the list) reads the successful
    ones."""

    change_list_template = "admin/dora/deployment_change_list.html"
    list_display = ["finished_at", "service", "environment", "status", "sha", "provider", "key"]
    list_filter = ["environment", "status", "provider"]
    search_fields = ["service", "sha", "key", "title"]
    date_hierarchy = "finished_at"

    def get_urls(self):
        return [path("dashboard/", self.admin_site.admin_view(self.dashboard_view),
                     name="integrations_dora_dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        membership = self.acting_membership(request)
        tenants = list(Tenant.objects.order_by("slug")) if request.user.is_superuser else []
        chosen = request.GET.get("tenant", "")
        if request.user.is_superuser and chosen.isdigit() and any(t.pk == int(chosen) for t in tenants):
            tenant_id = int(chosen)
        elif membership is not None:
            tenant_id = membership.tenant_id
        elif request.user.is_superuser:
            tenant_id = tenants[0].pk if tenants else None
        else:
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "DORA metrics", "tenants": tenants,
                   "tenant_id": tenant_id, "opts": self.model._meta}
        if tenant_id is not None:
            context.update(dashboard(tenant_id=tenant_id, service=request.GET.get("service", "")[:200],
                                     environment=request.GET.get("environment", "")[:100]))
        return TemplateResponse(request, "admin/dora/dashboard.html", context)


@admin.register(Change)
class ChangeAdmin(_EngineeringAdmin):
    list_display = ["committed_at", "repository", "sha", "title", "author", "pull_request", "push"]
    list_filter = ["provider"]
    search_fields = ["sha", "repository", "title", "author", "push"]
    date_hierarchy = "committed_at"


@admin.register(Incident)
class IncidentAdmin(_EngineeringAdmin):
    list_display = ["opened_at", "service", "environment", "status", "severity", "resolved_at", "title",
                    "root_cause_sha", "deployment_key"]
    list_filter = ["environment", "status", "severity", "provider"]
    search_fields = ["service", "title", "key", "root_cause_sha"]
    date_hierarchy = "opened_at"


def _changelist(model, **lookups) -> str:
    query = {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in lookups.items()
             if value not in ("", None)}
    return f"{reverse(f'admin:integrations_{model._meta.model_name}_changelist')}?{urlencode(query)}"


# A drill-down names its rows by id up to this many; more would pass the request-line limits of proxies and
# gunicorn (4094 bytes), so a larger set links to the window's rows instead.
MAX_LINKED_IDS = 200


def _rows(model, pks, **window) -> str:
    pks = sorted(set(pks))
    if len(pks) > MAX_LINKED_IDS:
        return _changelist(model, **window)
    return _changelist(model, id__in=",".join(str(pk) for pk in pks) or "0")


def dashboard(*, tenant_id: int, service: str = "", environment: str = "") -> dict:
    """The dashboard's context: the summary of the last twelve weeks, its charts, and the links to the rows
    behind each figure (read-only changelists filtered by the window)."""
    sc = selectors.scope(tenant_id=tenant_id, service=service, environment=environment)
    figures = selectors.summary(sc)
    deployments = list(selectors.deployments_in(sc))
    failed = selectors.failed_deployment_ids(tenant_ids=[tenant_id], environment=sc.environment, since=sc.start)
    leads = selectors.lead_times(deployments)
    window = {"service": sc.service, "environment": sc.environment}
    weekly = figures["weekly"]
    hours = 3600
    charts = [
        bar_chart([(w["week"], w["deployments"]) for w in weekly], title="Deployments per week"),
        bar_chart([(w["week"], (w["median_lead_time_seconds"] or 0) / hours) for w in weekly],
                  title="Median lead time per week", unit=" h", total=False),
        bar_chart([(w["week"], (w["change_failure_rate"] or 0) * 100) for w in weekly],
                  title="Change failure rate per week", unit=" %", total=False),
        bar_chart([(w["week"], (w["median_restore_seconds"] or 0) / hours) for w in weekly],
                  title="Median time to restore per week", unit=" h", total=False),
    ]
    services = list(Deployment.objects.filter(tenant_id=tenant_id).order_by("service").values_list(
        "service", flat=True).distinct()[:500])
    environments = sorted({s.PRODUCTION, *Deployment.objects.filter(tenant_id=tenant_id).values_list(
        "environment", flat=True).distinct()[:100]})
    return {
        "summary": figures, "charts": charts, "services": services, "environments": environments,
        "service": sc.service, "environment": sc.environment, "start": sc.start, "end": sc.end,
        "links": {
            "deployments": _changelist(Deployment, status=s.SUCCESS, finished_at__gte=sc.start,
                                       finished_at__lt=sc.end, **window),
            "failed": _rows(Deployment, (d.pk for d in deployments if d.pk in failed), status=s.SUCCESS,
                            finished_at__gte=sc.start, finished_at__lt=sc.end, **window),
            "changes": _rows(Change, Change.objects.filter(tenant_id=tenant_id, sha__in={lt.sha for lt in leads})
                             .values_list("pk", flat=True) if leads else [],
                             committed_at__gte=sc.start - timedelta(days=30), committed_at__lt=sc.end),
            "incidents": _changelist(Incident, opened_at__gte=sc.start, opened_at__lt=sc.end, **window),
            "resolved": _changelist(Incident, resolved_at__gte=sc.start, resolved_at__lt=sc.end, **window),
        },
    }


# --- the weekly digest ------------------------------------------------------------------------------


class DoraDigestForm(forms.ModelForm):
    """A Slack digest names its channel id in `to`; a notify digest runs as a member of the tenant and names
    one of its notify routing rules by id in `to`."""

    tenant_id: int | None = None  # the acting tenant, for a tenant admin (the form has no tenant field then)
    operator = False  # a superuser: may point a digest at any Slack channel of Emma's bot

    class Meta:
        model = DoraDigest
        fields = ["tenant", "enabled", "via", "to", "run_as", "service", "environment"]
        help_texts = {"to": "Slack: the channel id (C…). Notify: the id of one of the tenant's notify routing "
                            "rules, which says where the text goes."}

    def clean(self):
        data = super().clean()
        tenant_id = self.tenant_id or getattr(data.get("tenant"), "pk", None)
        if tenant_id is None:
            return data
        if DoraDigest.objects.filter(tenant_id=tenant_id).exclude(pk=self.instance.pk).exists():
            raise ValidationError("This tenant has its digest already: edit that one.")
        to = (data.get("to") or "").strip()
        if data.get("via") == DoraDigest.Via.SLACK and not to:
            self.add_error("to", "A Slack digest needs the channel id.")
        if data.get("via") == DoraDigest.Via.SLACK and not self.operator and (
                not self.instance.pk or self.instance.via != DoraDigest.Via.SLACK or self.instance.to != to):
            # Emma's one Slack bot posts in every tenant's workspace channels: where it posts ungoverned is an
            # operator's choice; a tenant admin names a notify rule, whose posts governance decides.
            self.add_error("via", "A Slack channel digest is set up by an operator; choose a notify routing rule.")
        if data.get("via") == DoraDigest.Via.NOTIFY:
            if not (to.isdigit() and RoutingRule.objects.filter(pk=int(to), tenant_id=tenant_id,
                                                                action=RoutingRule.Action.NOTIFY).exists()):
                self.add_error("to", "Name one of the tenant's notify routing rules by its id.")
            run_as = data.get("run_as")
            if run_as is None or not Membership.objects.filter(user=run_as, tenant_id=tenant_id).exists():
                self.add_error("run_as", "A notify digest runs as a member of the tenant.")
        data["environment"] = s.environment_name(data.get("environment")) or s.PRODUCTION
        return data


@admin.register(DoraDigest)
class DoraDigestAdmin(TenantScoped, admin.ModelAdmin):
    """The tenant's weekly DORA digest, edited by its admins (superusers: any tenant's)."""

    roles = (Membership.Role.ADMIN,)
    form = DoraDigestForm
    list_display = ["tenant", "enabled", "via", "to", "service", "environment", "last_week_sent"]
    readonly_fields = ["last_week_sent"]

    def has_add_permission(self, request):
        return self.has_view_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def get_exclude(self, request, obj=None):
        return [] if request.user.is_superuser else ["tenant"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        membership = None if request.user.is_superuser else self.acting_membership(request)
        form.tenant_id = membership.tenant_id if membership else None
        form.operator = request.user.is_superuser
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "run_as" and not request.user.is_superuser:
            membership = self.acting_membership(request)
            kwargs["queryset"] = db_field.related_model.objects.filter(
                Q(memberships__tenant_id=membership.tenant_id) if membership else Q(pk__in=[])).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.tenant_id = self.acting_membership(request).tenant_id  # a tenant admin's digest is their tenant's
        super().save_model(request, obj, form, change)


def home_panel(request, membership) -> dict | None:
    """The four figures of the last twelve weeks and the dashboard's link, on every member's home page; left
    out while the tenant has no deployment on record."""
    if not Deployment.objects.filter(tenant_id=membership.tenant_id).exists():
        return None
    return {"summary": selectors.summary(selectors.scope(tenant_id=membership.tenant_id)),
            "dashboard_url": reverse("admin:integrations_dora_dashboard")}


def register() -> None:
    register_home_panel(HomePanel("dora", "admin/dora/home_panel.html", home_panel, EVERY_ROLE, order=60))

