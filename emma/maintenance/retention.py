"""Log retention: each app declares what of its data may go after LOG_RETENTION_DAYS, and the pruning
job removes it in small batches, each its own short transaction, so no lock is held for long.

An app registers its prunable data once, at start-up (`AppConfig.ready`):

    from emma.maintenance.retention import register_prunable
    register_prunable("integrations.webhook_delivery", lambda: WebhookDelivery.objects.all(), "received_at")

`action` is "delete" (the default) or a callable that takes a batch's queryset and returns how many rows
it changed, e.g. emptying message bodies while keeping the rows; such a queryset must leave out the
rows already pruned, since batches are selected until none is left.

The audit chain is never prunable: its table refuses DELETE, and its history is the point of it
(`export_audit_archive` copies old events to a file instead)."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger("emma.maintenance")

_NEVER_PRUNED = {"governance_auditevent"}


@dataclass(frozen=True)
class Prunable:
    name: str
    queryset: Callable[[], QuerySet]
    date_field: str
    action: str | Callable[[QuerySet], int] = "delete"


_registry: dict[str, Prunable] = {}


def register_prunable(name: str, queryset: Callable[[], QuerySet], date_field: str,
                      action: str | Callable[[QuerySet], int] = "delete") -> None:
    """Declare data that the retention job may prune once `date_field` is older than the retention
    period. Registering a name again replaces it."""
    if action != "delete" and not callable(action):
        raise ValueError('action must be "delete" or a callable taking a queryset')
    _registry[name] = Prunable(name, queryset, date_field, action)


def unregister_prunable(name: str) -> None:
    _registry.pop(name, None)


def registered() -> dict[str, Prunable]:
    from emma.maintenance import prunables  # noqa: F401  (Emma's own, registered on first use)

    return dict(sorted(_registry.items()))


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
    for name, prunable in registered().items():
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
