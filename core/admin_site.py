"""Emma's admin site: the stock Django admin, titled Emma, that opens on a home page for the person's
role (built from the panels the apps register) and that every member of a tenant may sign in to. What a
person may see beyond the home page is still each ModelAdmin's decision."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse

from core.models import Membership
from core.selectors import active_membership
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
        return super().index(request, {"membership": membership, "panels": panels, "links": links,
                                       **(extra_context or {})})
