"""Memory links to tasks and escalations by id only (it sits below the task layer): the foreign keys
to emma_agenttask and governance_escalation are dropped, the columns, their indexes and every value stay.
The tenant foreign keys now name core.Tenant (the same table)."""

import django.db.models.deletion
from django.db import migrations, models

DROP_FOREIGN_KEYS = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT conname, conrelid::regclass AS tbl FROM pg_constraint
             WHERE contype = 'f'
               AND conrelid IN ('memory_item'::regclass, 'memory_episodic_event'::regclass)
               AND confrelid IN ('emma_agenttask'::regclass, 'governance_escalation'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('memory', '0002_semantic_and_episodic_memory'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(DROP_FOREIGN_KEYS, migrations.RunSQL.noop)],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name='episodicevent',
                    name='episodic_one_result_per_task',
                ),
                migrations.RemoveField(
                    model_name='episodicevent',
                    name='task',
                ),
                migrations.RemoveField(
                    model_name='memoryitem',
                    name='escalation',
                ),
                migrations.RemoveField(
                    model_name='memoryitem',
                    name='task',
                ),
                migrations.AddField(
                    model_name='episodicevent',
                    name='task_id',
                    field=models.UUIDField(blank=True, db_index=True, null=True),
                ),
                migrations.AddField(
                    model_name='memoryitem',
                    name='escalation_id',
                    field=models.UUIDField(blank=True, db_index=True, null=True),
                ),
                migrations.AddField(
                    model_name='memoryitem',
                    name='task_id',
                    field=models.UUIDField(blank=True, db_index=True, null=True),
                ),
                migrations.AlterField(
                    model_name='episodicevent',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='memorybulkjob',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='memoryitem',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.tenant'),
                ),
                migrations.AddConstraint(
                    model_name='episodicevent',
                    constraint=models.UniqueConstraint(condition=models.Q(('kind', 'task_result'), ('task_id__isnull', False)), fields=('task_id',), name='episodic_one_result_per_task'),
                ),
            ],
        ),
    ]
