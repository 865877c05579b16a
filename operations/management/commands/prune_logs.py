from django.core.management.base import BaseCommand, CommandError

from operations import jobs
from operations.retention import batch_size_default, retention_days
from operations.runs import failure_line


class Command(BaseCommand):
    help = ("Delete task events, episodic memory, message logs and maintenance runs older than N days "
            "(LOG_RETENTION_DAYS) in short batches. The audit chain is never pruned (see export_audit_archive).")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days (default LOG_RETENTION_DAYS, now {retention_days()}); "
                                 f"0 prunes everything older than now")
        parser.add_argument("--batch-size", type=int, default=None,
                            help=f"rows per batch, each its own transaction (default {batch_size_default()})")
        parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")

    def handle(self, *args, days=None, batch_size=None, pause=0.0, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more")
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be 1 or more")
        run = jobs.prune_job(days=days, batch_size=batch_size, pause=pause, trigger="command", reraise=False)
        if run.outcome != run.Outcome.SUCCESS:
            raise CommandError(failure_line(run))
        for name, figures in run.figures["pruned"].items():
            self.stdout.write(f"{name}: {figures['rows']} rows in {figures['batches']} batches")
        self.stdout.write(f"pruned {run.figures['rows']} rows older than {run.figures['cutoff']}")
