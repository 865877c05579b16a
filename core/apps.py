from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    name = "core"
    verbose_name = "Tenants and accounts"

    def ready(self):
        from core import checks, observability  # noqa: F401 - checks registers the email check
        from core import schema  # noqa: F401 - registers the OpenAPI schema's extensions
        from core.models import Membership
        from core.registries import HomeLink, register_home_link

        observability.connect_celery_signals()
        register_home_link(HomeLink("Members", "admin:core_membership_changelist", (Membership.Role.ADMIN,),
                                    order=20))
        register_home_link(HomeLink("Invitations", "admin:core_invitation_changelist", (Membership.Role.ADMIN,),
                                    order=21))
        register_home_link(HomeLink("API keys", "admin:core_apikey_changelist", (Membership.Role.ADMIN,),
                                    order=22))


class EmmaAdminConfig(admin_apps.AdminConfig):
    """The admin, as Emma's site (core.admin_site): every app registers its screens on it as usual."""

    default = False
    default_site = "core.admin_site.EmmaAdminSite"
