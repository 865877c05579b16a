"""Tenant moved to core with its table: only the state of the foreign keys changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('integrations', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='channelidentity',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='decisioncode',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='outboundmessage',
                    name='tenant',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='routingrule',
                    name='tenant',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
                migrations.AlterField(
                    model_name='webhookdelivery',
                    name='tenant',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                            to='core.tenant'),
                ),
            ],
            database_operations=[],
        ),
    ]
