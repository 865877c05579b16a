"""The policy's versions move into core's one table of configuration versions (document "policy"), keeping
their numbers (tasks and escalations record them as policy_version), authors, diffs, notes (as reasons) and
dates; then governance_policyversion goes."""

from django.db import migrations

FORWARD = """
INSERT INTO core_configversion (tenant_id, document, version, content, diff, author_id, reason, created_at)
SELECT tenant_id, 'policy', version, document, diff, author_id, note, created_at FROM governance_policyversion
"""
BACKWARD = """
INSERT INTO governance_policyversion (tenant_id, version, document, diff, author_id, note, created_at)
SELECT tenant_id, version, content, diff, author_id, reason, created_at FROM core_configversion
WHERE document = 'policy';
DELETE FROM core_configversion WHERE document = 'policy';
"""


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0005_config_versions'),
        ('governance', '0006_audit_chain_head'),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.DeleteModel(name='PolicyVersion'),
    ]
