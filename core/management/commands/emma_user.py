from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from core import services
from core.errors import Invalid, error_text
from core.models import Membership


class Command(BaseCommand):
    help = "Create or update a user in a tenant (the tenant is created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--role", default=Membership.Role.SUBMITTER, choices=Membership.Role.values)

    def handle(self, *args, username, password, tenant, role, **options):
        slug = slugify(tenant)
        if not slug:
            raise CommandError(f"tenant {tenant!r} has no usable slug")
        try:
            services.user_upsert(username=username, password=password, tenant_slug=slug, role=role)
        except Invalid as exc:
            raise CommandError(error_text(exc)) from None
        self.stdout.write(f"user {username} is {role} in tenant {slug}")
