from django.core.management.base import BaseCommand, CommandError

from operations import jobs
from operations.runs import failure_line


class Command(BaseCommand):
    help = "VACUUM (ANALYZE) each of Emma's tables outside any transaction, recording how long each took."

    def handle(self, *args, **options):
        run = jobs.vacuum_job(trigger="command", reraise=False)
        if run.outcome != run.Outcome.SUCCESS:
            raise CommandError(failure_line(run))
        for table, seconds in run.figures["tables"].items():
            self.stdout.write(f"{table}: {seconds:.3f} s")
        self.stdout.write(f"vacuumed {len(run.figures['tables'])} tables in {run.figures['seconds']:.1f} s")
