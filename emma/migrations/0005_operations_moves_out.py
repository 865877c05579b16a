"""MaintenanceRun and Backup now live in operations (its 0001 took over their tables): emma forgets
them. No table or row changes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("emma", "0004_tenancy_moves_to_core"),
        ("operations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Backup"),
                migrations.DeleteModel(name="MaintenanceRun"),
            ],
            database_operations=[],
        ),
    ]
