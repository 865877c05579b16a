"""vacuum_database: VACUUM (ANALYZE) of every table of Emma's, outside any transaction, with durations."""

import pytest
from django.core.management import call_command
from django.db import transaction

from operations import jobs, pg
from operations.models import MaintenanceRun
from operations.vacuum import vacuum_tables
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def last_vacuum(table: str):
    with pg.connect() as conn:
        return conn.execute("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = %s",
                            [table]).fetchone()


def test_vacuum_database_vacuums_every_emma_table_and_records_durations(capsys):
    call_command("vacuum_database")

    run = MaintenanceRun.objects.get(job=jobs.VACUUM)
    assert run.outcome == MaintenanceRun.Outcome.SUCCESS
    tables = run.figures["tables"]
    assert {"emma_agenttask", "emma_taskevent", "governance_auditevent", "governance_escalation", "memory_item",
            "memory_episodic_event", "django_celery_beat_periodictask"} <= set(tables)
    assert set(tables) == set(vacuum_tables()), "every table of Emma's and of beat, each timed"
    out = capsys.readouterr().out
    assert all(f"{table}: " in out for table in tables) and f"vacuumed {len(tables)} tables" in out
    wait_for(lambda: all(last_vacuum("emma_agenttask")), timeout=10, message="the statistics to show the VACUUM")


def test_vacuum_runs_even_when_the_caller_is_inside_a_transaction():
    with transaction.atomic():
        run = jobs.vacuum_job()
    assert run.outcome == MaintenanceRun.Outcome.SUCCESS
