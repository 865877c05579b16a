"""The operations panel of a tenant admin's home page: the last backup and whether a restore verified it."""

from django.utils import timezone

from core.models import Membership
from core.registries import HomePanel, register_home_panel
from operations.models import Backup


def last_backup(request, membership):
    backup = Backup.objects.exclude(status=Backup.Status.RUNNING).order_by("-started_at", "-id").first()
    verified = Backup.objects.filter(status=Backup.Status.VERIFIED).order_by("-started_at", "-id").first()
    age = (timezone.now() - backup.started_at) if backup else None
    return {"backup": backup, "verified": verified, "stale": age is None or age.total_seconds() > 36 * 3600}


def register():
    register_home_panel(HomePanel("backup", "admin/operations/home/backup.html", last_backup,
                                  (Membership.Role.ADMIN,), order=75))
