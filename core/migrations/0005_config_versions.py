import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0004_api_keys'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ConfigVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('document', models.CharField(max_length=64)),
                ('version', models.PositiveIntegerField()),
                ('content', models.JSONField()),
                ('diff', models.JSONField(default=dict)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('author', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                             related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+',
                                             to='core.tenant')),
            ],
            options={
                'verbose_name': 'configuration version',
                'ordering': ['document', '-version'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('tenant', 'document', 'version'),
                                                        name='configversion_unique_version')],
            },
        ),
    ]
