"""A database of the previous release, with a row in every table, migrates forward without losing one.

Each database here is a scratch one of its own (`emma_migrate_<random>`) on the test run's PostgreSQL
server, built by `migrate` in child processes exactly as a deployment would, filled with plain SQL
(the models describe the latest schema, not that release's) and dropped at the end, whatever happened.
"""

import secrets
import subprocess
import sys
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from psycopg import sql
from psycopg.rows import dict_row

from tests.conftest import ROOT, database_url_for_subprocess, subprocess_env

pytestmark = pytest.mark.slow

# The migration heads of the previous release. Django's own apps and third-party ones are at their
# latest; project apps not listed here (core) did not exist yet.
PREVIOUS_RELEASE = {
    "emma": "0003_maintenance_runs_and_backups",
    "governance": "0002_audit_append_only",
    "memory": "0002_semantic_and_episodic_memory",
    "integrations": "0001_initial",
}

# Tables a forward migration renames (old name -> new name). Today none: moved models keep their table.
RENAMED_TABLES: dict[str, str] = {}

# Tables a forward migration removes after copying every row elsewhere (test_removed_tables_rows_were_copied
# checks each copy), with where they went.
REMOVED_TABLES = {
    "governance_policyversion": "governance 0007 copies each version into core_configversion (document "
                                "'policy', same version, content, diff, author, note as reason, date)",
}

# Django's bookkeeping: these may gain rows on the way (applied migrations; content types and
# permissions that post_migrate creates for new models). They must still hold every row they had.
MAY_GROW = {
    "django_migrations": "each forward migration adds its row",
    "django_content_type": "post_migrate adds the content types of new models",
    "auth_permission": "post_migrate adds the permissions of new models",
}

# Columns a forward migration rewrites on purpose, left out of the row-by-row comparison.
REWRITTEN_COLUMNS = {
    ("django_content_type", "app_label"): "core 0001 moves the tenant and membership content types from emma to core",
}

# Migrates Django's and third-party apps to their latest, then each project app of the previous
# release to its head; the same `migrate` command as `manage.py migrate <app> <migration>`, run once per
# target in one child process instead of one process per target.
MIGRATE_TO_PREVIOUS_RELEASE = """
import sys
from pathlib import Path

import django
django.setup()
from django.apps import apps
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

root = Path(sys.argv[1])
targets = dict(target.split(":") for target in sys.argv[2:])
ours = {config.label for config in apps.get_app_configs() if Path(config.path).parent == root}
for label in sorted(MigrationLoader(None, ignore_no_migrations=True).migrated_apps - ours):
    call_command("migrate", label, interactive=False, verbosity=0)
for label, migration in targets.items():
    call_command("migrate", label, migration, interactive=False, verbosity=0)
"""

VECTOR = "[" + ",".join(["0.1"] * 384) + "]"


def server_connection(dbname: str = "postgres") -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname=dbname, autocommit=True)


def scratch_database_url(name: str) -> str:
    return f"{database_url_for_subprocess().rsplit('/', 1)[0]}/{name}"


def run_in_child(arguments: list[str], database: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=subprocess_env(DATABASE_URL=scratch_database_url(database)))
    assert result.returncode == 0, (
        f"`{' '.join(arguments[:3])}` failed on {database} (exit {result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def manage(*arguments: str, database: str) -> subprocess.CompletedProcess:
    return run_in_child(["manage.py", *arguments], database)


@pytest.fixture(scope="module")
def scratch_databases():
    """`create()` makes an empty database on the test server; all are dropped at the end of the module."""
    created = []

    def create() -> str:
        name = f"emma_migrate_{secrets.token_hex(6)}"
        with server_connection() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return name

    try:
        yield create
    finally:
        with server_connection() as connection:
            for name in created:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Seeder:
    """INSERTs that name what matters (keys, the values the test checks) and fill every other NOT NULL
    column with a plain value of its type. A NOT NULL foreign key must be named: no guessed parents."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection
        self.columns = {}
        for table, column, type_, not_null, has_default, identity in connection.execute("""
                SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                       a.atthasdef, a.attidentity <> ''
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                  AND a.attnum > 0 AND NOT a.attisdropped"""):
            self.columns.setdefault(table, {})[column] = (type_, not_null and not has_default and not identity)
        self.foreign_keys = {(table, column) for table, column in connection.execute("""
                SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""")}

    @staticmethod
    def plain_value(table: str, column: str, type_: str):
        if type_ in ("smallint", "integer", "bigint", "real", "double precision") or type_.startswith("numeric"):
            return 1
        if type_ == "boolean":
            return False
        if type_ == "text" or type_.startswith("character varying"):
            return f"legacy {column}"[: int(type_.partition("(")[2].rstrip(")") or 1000)]
        if type_ in ("jsonb", "json"):
            return "{}"
        if type_ == "timestamp with time zone":
            return datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
        if type_ == "date":
            return date(2024, 6, 1)
        if type_ == "uuid":
            return uuid.uuid4()
        if type_ == "tsvector":
            return ""
        if type_.startswith("vector("):
            return "[" + ",".join(["0.1"] * int(type_[7:-1])) + "]"
        raise AssertionError(f"{table}.{column}: no plain value for type {type_}; give it in the INSERT")

    def insert(self, table: str, **given) -> dict:
        assert table in self.columns, f"{table} does not exist at the previous release's heads"
        values = dict(given)
        for column, (type_, required) in self.columns[table].items():
            if required and column not in values:
                assert (table, column) not in self.foreign_keys, f"{table}.{column} is a foreign key: name its row"
                values[column] = self.plain_value(table, column, type_)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(self.columns[table][c][0])) for c in values))
        with self.connection.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(statement, list(values.values())).fetchone()


def seed_previous_release(connection: psycopg.Connection) -> dict:
    """A row in every table of the previous release, linked as the application links them. Returns
    what the test checks afterwards."""
    db = Seeder(connection)
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)

    content_type = db.insert("django_content_type", app_label="legacy", model="widget")
    permission = db.insert("auth_permission", content_type_id=content_type["id"], codename="frob_widget",
                           name="Can frob widget")
    group = db.insert("auth_group", name="legacy approvers")
    db.insert("auth_group_permissions", group_id=group["id"], permission_id=permission["id"])
    user = db.insert("auth_user", username="legacy-approver", password="!", is_active=True, date_joined=now)
    db.insert("auth_user_groups", user_id=user["id"], group_id=group["id"])
    db.insert("auth_user_user_permissions", user_id=user["id"], permission_id=permission["id"])
    db.insert("django_admin_log", user_id=user["id"], content_type_id=content_type["id"], object_id="1",
              action_flag=1, change_message="[]")
    db.insert("django_session", session_key="legacy-session", session_data="e30", expire_date=now)
    outstanding = db.insert("token_blacklist_outstandingtoken", user_id=user["id"], jti="legacy-jti",
                            token="legacy.refresh.token", created_at=now, expires_at=now)
    db.insert("token_blacklist_blacklistedtoken", token_id=outstanding["id"], blacklisted_at=now)
    access = {"user_agent": "legacy-agent", "ip_address": "10.0.0.1", "username": "legacy-approver",
              "http_accept": "*/*", "path_info": "/admin/login/", "attempt_time": now}
    attempt = db.insert("axes_accessattempt", get_data="", post_data="", failures_since_start=1, **access)
    db.insert("axes_accessattemptexpiration", access_attempt_id=attempt["id"], expires_at=now)
    db.insert("axes_accessfailurelog", locked_out=False, **access)
    db.insert("axes_accesslog", logout_time=now, session_hash="legacy-session-hash", **access)
    # djangorestframework-api-key's own table (Emma's keys are core.APIKey, on its abstract model): unused, kept.
    db.insert("rest_framework_api_key_apikey", id="legacyAb.sha512$$legacy", prefix="legacyAb",
              hashed_key="sha512$$legacy", name="legacy key", revoked=False, created=now)

    interval = db.insert("django_celery_beat_intervalschedule", every=10, period="minutes")
    crontab = db.insert("django_celery_beat_crontabschedule", minute="0", hour="3", day_of_week="*",
                        day_of_month="*", month_of_year="*", timezone="UTC")
    db.insert("django_celery_beat_solarschedule", event="sunrise", latitude=51.5, longitude=-0.12)
    db.insert("django_celery_beat_clockedschedule", clocked_time=now)
    db.insert("django_celery_beat_periodictask", name="legacy.prune", task="emma.prune_logs",
              interval_id=interval["id"], args="[]", kwargs="{}", headers="{}", enabled=True)
    db.insert("django_celery_beat_periodictask", name="legacy.backup", task="emma.backup_database",
              crontab_id=crontab["id"], args="[]", kwargs="{}", headers="{}", enabled=True)
    db.insert("django_celery_beat_periodictasks", ident=1, last_update=now)

    tenant = db.insert("emma_tenant", slug="legacy", name="Legacy Ltd", created_at=now)
    db.insert("emma_membership", user_id=user["id"], tenant_id=tenant["id"], role="approver")
    task = db.insert("emma_agenttask", id=uuid.uuid4(), tenant_id=tenant["id"], submitter_id=user["id"],
                     task_type="diagnostic.echo", parameters='{"text": "hello"}', priority=5, risk="low",
                     estimated_cost=50, status="pending_approval", decision="escalate",
                     decision_reasons='["cost above threshold"]', correlation_id="legacy-correlation")
    db.insert("emma_taskevent", task_id=task["id"], from_status="", to_status="pending_approval", actor="system")
    db.insert("emma_maintenancerun", job="prune_logs", trigger="beat", outcome="succeeded", figures='{"deleted": 3}')
    db.insert("emma_backup", file="/backups/legacy.dump", status="verified", size_bytes=1024,
              row_counts='{"emma_agenttask": 1}')

    db.insert("governance_policyversion", tenant_id=tenant["id"], author_id=user["id"], version=1,
              document='{"autonomy": "supervised"}', diff="{}")
    escalation = db.insert("governance_escalation", id=uuid.uuid4(), task_id=task["id"], tenant_id=tenant["id"],
                           requester_id=user["id"], task_type="diagnostic.echo", parameters="{}", risk="low",
                           estimated_cost=50, reasons="[]", ladder="[]", tier=0, status="open")
    db.insert("governance_auditevent", tenant_id=tenant["id"], seq=1, actor="legacy-approver",
              action="task.submitted", object_type="agenttask", object_id=str(task["id"]),
              after='{"status": "pending_approval"}', prev_hash="0" * 64, hash="1" * 64)
    db.insert("governance_dailyusage", tenant_id=tenant["id"], day=date(2024, 6, 1), committed=50)

    memory_item = db.insert("memory_item", id=uuid.uuid4(), tenant_id=tenant["id"], created_by_id=user["id"],
                            task_id=task["id"], escalation_id=escalation["id"], content="The report is due Friday",
                            content_hash="a" * 64, embedding=VECTOR)
    episodic_event = db.insert("memory_episodic_event", id=uuid.uuid4(), tenant_id=tenant["id"], task_id=task["id"],
                               kind="task_result", content="echoed hello", occurred_at=now)
    db.insert("memory_bulk_job", id=uuid.uuid4(), tenant_id=tenant["id"], created_by_id=user["id"], status="done",
              total=1, done=1, items="[]", item_ids=f'["{memory_item["id"]}"]')

    db.insert("integrations_channelidentity", tenant_id=tenant["id"], user_id=user["id"], channel="slack",
              address="U123")
    db.insert("integrations_decisioncode", tenant_id=tenant["id"], approver_id=user["id"],
              escalation_id=escalation["id"], code="AB12CD", expires_at=now)
    first = db.insert("integrations_outboundmessage", tenant_id=tenant["id"], recipient_id=user["id"],
                      task_id=task["id"], escalation_id=escalation["id"], channel="slack", to="U123",
                      idempotency_key="legacy-escalation-1", status="sent")
    db.insert("integrations_outboundmessage", tenant_id=tenant["id"], original_id=first["id"], channel="slack",
              to="U123", idempotency_key="legacy-escalation-1-update", status="queued")
    db.insert("integrations_routingrule", tenant_id=tenant["id"], run_as_id=user["id"], name="sentry alerts",
              provider="sentry", event_type="issue", match="{}", channel="slack", to="#ops", enabled=True)
    db.insert("integrations_webhookdelivery", tenant_id=tenant["id"], provider="github", dedup_key="delivery-1",
              event_type="push", headers="{}", body="{}", status="processed")

    return {"memory_item": memory_item, "memory_episodic_event": episodic_event}


def tables(connection: psycopg.Connection) -> dict[str, list[str]]:
    """Each table of the public schema and its columns."""
    found = {}
    for table, column in connection.execute("""
            SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"""):
        found.setdefault(table, []).append(column)
    return found


def rows(connection: psycopg.Connection, table: str) -> list[dict[str, str | None]]:
    """The table's rows, each value as PostgreSQL prints it."""
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(table)))
        columns = [column.name for column in cursor.description]
        statement = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(sql.Identifier(c), sql.Identifier(c))
                               for c in columns), sql.Identifier(table))
        return cursor.execute(statement).fetchall()


def primary_keys(connection: psycopg.Connection) -> dict[str, list[str]]:
    found = {}
    for table, column in connection.execute("""
            SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace ORDER BY 1, a.attnum"""):
        found.setdefault(table, []).append(column)
    return found


def shorten(value: str | None, width: int = 60) -> str:
    return "NULL" if value is None else repr(value if len(value) <= width else value[:width] + "...")


def row_changes(old_rows: list[dict], new_rows: list[dict], columns: list[str], key: list[str]) -> list[str]:
    """What happened to each old row, found again by its primary key: gone, or which columns changed."""
    new_by_key = {tuple(row[c] for c in key): row for row in new_rows}
    changes = []
    for old in old_rows:
        row_key = tuple(old[c] for c in key)
        label = ", ".join(f"{c}={v}" for c, v in zip(key, row_key))
        new = new_by_key.get(row_key)
        if new is None:
            changes.append(f"row {label} is gone")
            continue
        changes += [f"row {label}: {c} {shorten(old[c])} -> {shorten(new[c])}" for c in columns if old[c] != new[c]]
    return changes


def schema(connection: psycopg.Connection) -> set[tuple]:
    """Columns, constraints, indexes and triggers of the public schema, as comparable facts."""
    return {*connection.execute("""
        SELECT 'column', c.relname, a.attname, format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull
               THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped
        UNION ALL
        SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL
        SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE NOT tgisinternal""")}


def our_apps() -> set[str]:
    """The project's apps: top-level packages of the repository (the virtualenv's apps live deeper)."""
    return {config.label for config in apps.get_app_configs() if Path(config.path).parent == ROOT}


@pytest.fixture(scope="module")
def upgraded(scratch_databases):
    """A database built by the previous release's migrations, filled, then migrated to the latest.
    Returns the database's name and what it held before and after."""
    database = scratch_databases()
    targets = [f"{label}:{migration}" for label, migration in PREVIOUS_RELEASE.items()]
    run_in_child(["-c", MIGRATE_TO_PREVIOUS_RELEASE, str(ROOT), *targets], database)
    with server_connection(database) as connection:
        heads = dict(connection.execute(
            "SELECT app, max(name) FROM django_migrations WHERE app = ANY(%s) GROUP BY app", [list(our_apps())]))
        assert heads == PREVIOUS_RELEASE, f"the scratch database is not at the previous release: {heads}"
        seeded = seed_previous_release(connection)
        before = tables(connection)
        before_rows = {table: rows(connection, table) for table in before}
        keys = primary_keys(connection)
    empty = sorted(table for table, content in before_rows.items() if not content)
    assert not empty, (f"Tables of the previous release with no row: {empty}. Add an INSERT for each to"
                       " seed_previous_release(), so the forward migration is tested on real data.")

    manage("migrate", "--noinput", database=database)
    with server_connection(database) as connection:
        after = tables(connection)
        after_rows = {table: rows(connection, table) for table in after}
        memory_item = connection.execute("SELECT task_id, escalation_id FROM memory_item WHERE id = %s",
                                         [seeded["memory_item"]["id"]]).fetchone()
        episodic_task = connection.execute("SELECT task_id FROM memory_episodic_event WHERE id = %s",
                                           [seeded["memory_episodic_event"]["id"]]).fetchone()
    return {"database": database, "before": before, "after": after, "before_rows": before_rows,
            "after_rows": after_rows, "primary_keys": keys, "seeded": seeded, "memory_item": memory_item,
            "episodic_task": episodic_task}


def surviving_tables(upgraded) -> list[tuple[str, str]]:
    """(table before, the same table after) for each table of the previous release still there."""
    return [(table, RENAMED_TABLES.get(table, table)) for table in upgraded["before"]
            if RENAMED_TABLES.get(table, table) in upgraded["after"]]


def test_no_table_of_the_previous_release_disappears(upgraded):
    missing = sorted(t for t in upgraded["before"]
                     if RENAMED_TABLES.get(t, t) not in upgraded["after"] and t not in REMOVED_TABLES)
    assert not missing, (f"Tables gone after migrating forward: {missing}. If a migration renames one on purpose,"
                         " add it to RENAMED_TABLES.")


def test_every_table_keeps_its_row_count(upgraded):
    counts = [(table, len(upgraded["before_rows"][table]), len(upgraded["after_rows"][new_table]))
              for table, new_table in surviving_tables(upgraded)]
    wrong = [f"{table}: {before} row(s) before, {after} after" for table, before, after in counts
             if after < before or after != before and table not in MAY_GROW]
    assert not wrong, "Forward migrations changed row counts:\n  " + "\n  ".join(wrong)


def test_every_row_keeps_its_values(upgraded):
    """Each row, found again by its primary key, holds what it held in every column that still exists
    (a column dropped and re-added, or a foreign key turned into a plain id column, would lose them)."""
    problems = []
    for table, new_table in surviving_tables(upgraded):
        columns = [c for c in upgraded["before"][table]
                   if c in upgraded["after"][new_table] and (table, c) not in REWRITTEN_COLUMNS]
        key = upgraded["primary_keys"].get(table) or columns
        changes = row_changes(upgraded["before_rows"][table], upgraded["after_rows"][new_table], columns, key)
        problems += [f"{table}: {change}" for change in changes[:5]]
    assert not problems, "Forward migrations changed the previous release's rows:\n  " + "\n  ".join(problems)


def test_removed_tables_rows_were_copied(upgraded):
    """Each policy version is a configuration version of the document "policy" now, with all it held."""
    old = upgraded["before_rows"]["governance_policyversion"]
    copied = {(row["tenant_id"], row["version"]): row for row in upgraded["after_rows"]["core_configversion"]
              if row["document"] == "policy"}
    assert old and len(copied) == len(old)
    for row in old:
        new = copied[(row["tenant_id"], row["version"])]
        assert (new["content"], new["diff"], new["author_id"], new["reason"], new["created_at"]) == (
            row["document"], row["diff"], row["author_id"], row["note"], row["created_at"]), (row, new)


def test_memory_keeps_its_task_and_escalation_ids_when_the_foreign_keys_go(upgraded):
    """Memory sits below the task layer: its foreign keys to tasks and escalations are dropped, the ids stay."""
    seeded = upgraded["seeded"]
    assert upgraded["memory_item"] == (seeded["memory_item"]["task_id"], seeded["memory_item"]["escalation_id"]), \
        "memory_item lost its task_id / escalation_id"
    assert upgraded["episodic_task"] == (seeded["memory_episodic_event"]["task_id"],), \
        "memory_episodic_event lost its task_id"
    with server_connection(upgraded["database"]) as connection:
        upward = connection.execute("""
            SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'
              AND conrelid IN ('memory_item'::regclass, 'memory_episodic_event'::regclass)
              AND confrelid IN ('emma_agenttask'::regclass, 'governance_escalation'::regclass)""").fetchall()
    assert not upward, f"memory still has foreign keys into the task layer: {upward}"


def test_models_and_migrations_agree(upgraded):
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], cwd=ROOT,
                            env=subprocess_env(DATABASE_URL=scratch_database_url(upgraded["database"])),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"Models changed without a migration:\n{result.stdout}\n{result.stderr[-3000:]}"


def test_a_fresh_database_migrates_to_the_schema_of_an_upgraded_one(upgraded, scratch_databases):
    fresh = scratch_databases()
    manage("migrate", "--noinput", database=fresh)
    with server_connection(fresh) as fresh_connection, server_connection(upgraded["database"]) as upgraded_connection:
        fresh_schema, upgraded_schema = schema(fresh_connection), schema(upgraded_connection)
    differences = [f"only fresh:    {fact}" for fact in sorted(fresh_schema - upgraded_schema)]
    differences += [f"only upgraded: {fact}" for fact in sorted(upgraded_schema - fresh_schema)]
    assert not differences, "A fresh and an upgraded database differ:\n  " + "\n  ".join(differences)
