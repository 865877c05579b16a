from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector first: semantic memory and the health check rely on it."""

    initial = True
    dependencies = []
    operations = [VectorExtension()]
