"""Tenant and Membership now live in core (core 0001 took over their tables): emma forgets them, once
every app's foreign keys name core.Tenant. No table or row changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('emma', '0003_maintenance_runs_and_backups'),
        ('governance', '0003_tenant_in_core'),
        ('integrations', '0002_tenant_in_core'),
        ('memory', '0003_task_and_escalation_by_id'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='agenttask',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.DeleteModel(name='Membership'),
                migrations.DeleteModel(name='Tenant'),
            ],
            database_operations=[],
        ),
    ]
