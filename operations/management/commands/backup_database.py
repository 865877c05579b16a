from django.core.management.base import BaseCommand, CommandError

from operations import jobs
from operations.models import Backup
from operations.runs import failure_line


class Command(BaseCommand):
    help = ("Back the database up with pg_dump (custom format, the server's own version) into BACKUP_DIR, with a "
            "SHA-256 checksum beside it, then verify it by restoring it into a scratch database.")

    def add_arguments(self, parser):
        parser.add_argument("--no-verify", action="store_true",
                            help="skip the verification restore (the hourly verification job will do it)")

    def handle(self, *args, no_verify=False, **options):
        run = jobs.backup_job(trigger="command", reraise=False)
        if run.outcome != run.Outcome.SUCCESS:
            raise CommandError(failure_line(run))
        figures = run.figures
        self.stdout.write(f"backup written: {figures['file']} ({figures['size_bytes']} bytes, "
                          f"sha256 {figures['sha256']}, {figures['seconds']:.1f} s, {figures['rows']} rows "
                          f"in {figures['tables']} tables)")
        if figures["retention_removed"]:
            self.stdout.write(f"past retention, removed: {', '.join(figures['retention_removed'])}")
        if no_verify:
            return
        verify = jobs.verify_job(backup_ids=[figures["backup_id"]], trigger="command", reraise=False)
        backup = Backup.objects.get(pk=figures["backup_id"])
        if verify.outcome != verify.Outcome.SUCCESS or backup.status != Backup.Status.VERIFIED:
            raise CommandError(" ".join((backup.error or failure_line(verify)).split()))
        self.stdout.write("backup verified: restored into a scratch database, row counts match")
