"""MaintenanceRun and Backup move here from `emma`, keeping their tables (emma_maintenancerun,
emma_backup): the state moves, no row does. A fresh database gets the tables from emma's 0003."""

from django.db import migrations, models


def move_content_types(apps, schema_editor):
    """Permissions and admin history point at content types: carry them over to the new app label."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("maintenancerun", "backup"):
        if not ContentType.objects.filter(app_label="operations", model=model).exists():
            ContentType.objects.filter(app_label="emma", model=model).update(app_label="operations")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("emma", "0004_tenancy_moves_to_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Backup',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('file', models.CharField(max_length=1000)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('verified', 'Verified'), ('failed', 'Failed')], db_index=True, default='running', max_length=16)),
                        ('size_bytes', models.BigIntegerField(blank=True, null=True)),
                        ('sha256', models.CharField(blank=True, max_length=64)),
                        ('server_version', models.CharField(blank=True, max_length=32)),
                        ('row_counts', models.JSONField(blank=True, default=dict)),
                        ('started_at', models.DateTimeField(db_index=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_seconds', models.FloatField(blank=True, null=True)),
                        ('verified_at', models.DateTimeField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                    ],
                    options={
                        'db_table': 'emma_backup',
                        'ordering': ['-started_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='MaintenanceRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('job', models.CharField(max_length=64)),
                        ('trigger', models.CharField(blank=True, max_length=220)),
                        ('outcome', models.CharField(choices=[('running', 'Running'), ('success', 'Success'), ('failed', 'Failed'), ('skipped', 'Skipped')], default='running', max_length=16)),
                        ('started_at', models.DateTimeField(db_index=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('figures', models.JSONField(blank=True, default=dict)),
                        ('note', models.CharField(blank=True, max_length=500)),
                        ('error', models.TextField(blank=True)),
                        ('host', models.CharField(blank=True, max_length=200)),
                    ],
                    options={
                        'db_table': 'emma_maintenancerun',
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['job', '-started_at'], name='maintenancerun_job_started')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
