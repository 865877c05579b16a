import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import services
from core.errors import Invalid, error_text
from core.models import Membership


class Command(BaseCommand):
    help = ("Ensure the admin superuser (EMMA_ADMIN_USERNAME / EMMA_ADMIN_PASSWORD) exists. Without a "
            "password set, one is generated once, kept in EMMA_DATA_DIR/admin-password and printed.")

    def handle(self, *args, **options):
        password = settings.EMMA_ADMIN_PASSWORD
        if not password:
            stored = Path(settings.EMMA_DATA_DIR) / "admin-password"
            if not stored.exists():
                stored.parent.mkdir(parents=True, exist_ok=True)
                stored.write_text(secrets.token_urlsafe(12))
                stored.chmod(0o600)
            password = stored.read_text().strip()
        try:
            services.user_upsert(username=settings.EMMA_ADMIN_USERNAME, password=password, tenant_slug="default",
                                 role=Membership.Role.ADMIN, is_superuser=True)
        except Invalid as exc:
            raise CommandError(f"EMMA_ADMIN_PASSWORD: {error_text(exc)}") from None
        self.stdout.write(f"{settings.EMMA_ADMIN_USERNAME} {password}")
