"""Emma's admin site: the stock Django admin, titled Emma, that opens on a home page for the person's
role (built from the panels the apps register) and that every member of a tenant may sign in to. What a
person may see beyond the home page is still each ModelAdmin's decision."""

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse

from core.middleware import SESSION_TENANT_KEY
from core.models import Membership
from core.selectors import active_membership, memberships_of
from core.registries import home_links, home_panels


def member_of_a_tenant(user) -> bool:
    return Membership.objects.filter(user=user).exists()


class MemberLoginForm(AdminAuthenticationForm):
    """Staff, and every member of a tenant (a submitter sees their own tasks)."""

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)
        if not (user.is_staff or member_of_a_tenant(user)):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class EmmaAdminSite(admin.AdminSite):
    site_header = site_title = "Emma"
    index_title = "Home"
    site_url = None  # Emma has no public site: no "View site" link
    index_template = "admin/emma/home.html"
    login_form = MemberLoginForm

    def has_permission(self, request):
        user = request.user
        return user.is_active and (user.is_staff or active_membership(user) is not None)

    def index(self, request, extra_context=None):
        membership = active_membership(request.user)
        panels, links = [], []
        if membership is not None:
            for panel in home_panels(membership.role):
                context = panel.context(request, membership)
                if context is not None:
                    panels.append(render_to_string(panel.template, context, request))
            links = [{"title": link.title, "url": reverse(link.url_name, args=link.args)}
                     for link in home_links(membership.role)]
        memberships = memberships_of(request.user)
        return super().index(request, {"membership": membership, "panels": panels, "links": links,
                                       "memberships": memberships if len(memberships) > 1 else [],
                                       **(extra_context or {})})

    def get_urls(self):
        return [path("switch-tenant/", self.admin_view(self.switch_tenant), name="switch_tenant"),
                *super().get_urls()]

    def switch_tenant(self, request):
        """The session acts in another of the person's tenants from now on (core.middleware.SessionTenantMiddleware)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        chosen = request.POST.get("tenant", "")
        membership = (Membership.objects.filter(user=request.user, tenant_id=int(chosen)).select_related("tenant")
                      .first() if chosen.isdigit() else None)
        if membership is None:
            messages.error(request, "You are not a member of that tenant.")
        else:
            request.session[SESSION_TENANT_KEY] = membership.tenant_id
            messages.success(request, f"You now act in {membership.tenant.name}, "
                                      f"as {membership.get_role_display().lower()}.")
        return redirect("admin:index")
