"""Log retention: each app declares what of its data may go after LOG_RETENTION_DAYS, and the pruning
job removes it in small batches, each its own short transaction, so no lock is held for long.

Each app registers its prunable data once, at start-up (`AppConfig.ready`), with
`core.registries.register_prunable` (see there for what a Prunable is).

The audit chain is never prunable: its table refuses DELETE, and its history is the point of it
(`export_audit_archive` copies old events to a file instead)."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from core.registries import Prunable, prunables

logger = logging.getLogger("operations")

_NEVER_PRUNED = {"governance_auditevent"}


def old_maintenance_runs():
    """Maintenance runs, except each job's last success (it feeds emma_maintenance_last_success_timestamp)."""
    from operations.models import MaintenanceRun

    last_successes = (MaintenanceRun.objects.filter(outcome=MaintenanceRun.Outcome.SUCCESS).values("job")
                      .annotate(last=Max("pk")).values("last"))
    return MaintenanceRun.objects.exclude(outcome=MaintenanceRun.Outcome.RUNNING).exclude(pk__in=last_successes)


def retention_days() -> int:
    return settings.LOG_RETENTION_DAYS


def batch_size_default() -> int:
    return settings.PRUNE_BATCH_SIZE


def _prune_one(prunable: Prunable, cutoff, batch_size: int, pause: float) -> dict:
    base = prunable.queryset()
    if base.model._meta.db_table in _NEVER_PRUNED:
        raise ValueError(f"{base.model._meta.db_table} is never pruned (the audit chain is kept)")
    old = {f"{prunable.date_field}__lt": cutoff}
    rows = batches = 0
    while True:
        ids = list(prunable.queryset().filter(**old).order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            batch = prunable.queryset().filter(pk__in=ids, **old)
            changed = batch.delete()[0] if prunable.action == "delete" else prunable.action(batch)
        batches += 1
        rows += changed
        if not changed:
            break  # a callable action whose queryset keeps returning pruned rows: stop rather than loop
        if pause:
            time.sleep(pause)
    return {"rows": rows, "batches": batches}


def logs_prune(*, days: int | None = None, batch_size: int | None = None, pause: float = 0.0,
               only: list[str] | None = None) -> dict:
    """Prune every registered kind of data older than `days` (LOG_RETENTION_DAYS; 0: everything older
    than now) in batches of `batch_size` rows, sleeping `pause` seconds between batches; per kind,
    the rows pruned and the batches it took."""
    days = retention_days() if days is None else days
    if days < 0:
        raise ValueError("days must be 0 or more")
    batch_size = batch_size or batch_size_default()
    cutoff = timezone.now() - timedelta(days=days)
    tables = set(connection.introspection.table_names())
    figures = {}
    for name, prunable in prunables().items():
        if only and name not in only:
            continue
        table = prunable.queryset().model._meta.db_table
        if table not in tables:  # the app's migration has not run yet: nothing of it to prune
            figures[name] = {"rows": 0, "batches": 0, "note": f"no table {table} yet"}
            continue
        figures[name] = _prune_one(prunable, cutoff, batch_size, pause)
        logger.info("pruned %s rows of %s older than %s", figures[name]["rows"], name, cutoff.isoformat(),
                    extra={"prunable": name, **figures[name]})
    return {"cutoff": cutoff.isoformat(), "days": days, "batch_size": batch_size, "pruned": figures,
            "rows": sum(item["rows"] for item in figures.values())}
