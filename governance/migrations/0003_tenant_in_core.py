"""Tenant moved to core with its table: only the state of the foreign keys changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('governance', '0002_audit_append_only'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='dailyusage',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='escalation',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='policyversion',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
            ],
            database_operations=[],
        ),
    ]
