from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError

from operations import pg
from operations.pg import MaintenanceError
from operations.restore import database_restore


class Command(BaseCommand):
    help = ("Restore a backup taken by backup_database into the configured database, replacing its contents, "
            "after checking the file against its .sha256. Stop web, workers and beat first.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the .dump file; its .sha256 must be beside it")
        parser.add_argument("--yes", action="store_true", help="confirm that the database's contents are replaced")

    def handle(self, *args, file, yes=False, **options):
        path = Path(file)
        target = pg.libpq_params()
        where = f"database {target['dbname']!r} on {target.get('host', 'localhost')}"
        if not yes:
            raise CommandError(
                f"refusing to restore without --yes: restoring {path.name} replaces every table of {where} with "
                f"the backup's contents, and whatever was written since the backup is lost; stop web, workers and "
                f"beat, then run again with --yes")
        try:
            run = database_restore(path=path)
        except (MaintenanceError, OSError, psycopg.Error) as exc:
            raise CommandError(" ".join(str(exc).split())) from exc
        self.stdout.write(f"restored {path} into {where} in {run.figures['seconds']:.1f} s "
                          f"(sha256 {run.figures['sha256']}); now run `manage.py migrate` and `setup_periodic_tasks`, "
                          f"then start web, workers and beat")
