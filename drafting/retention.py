"""What the pruning job (operations.retention) does with drafts, registered in DraftingConfig.ready:

- `drafting.archive_untouched`: drafts not touched (saved, changed, moved) for DRAFT_ARCHIVE_DAYS are
  archived; published ones are kept as they are.
- `drafting.delete_archived`: drafts archived for DRAFT_RETENTION_DAYS are deleted with their revisions,
  comments and events; drafts that were ever published are kept.

Drafts are documents, not logs: their own periods rule, whatever LOG_RETENTION_DAYS (or `prune_logs --days`)
says. The pruner compares its date field with its own cutoff, so each queryset offers `retention_clock`, a
date that is always past, and applies the draft period itself."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, QuerySet, Value
from django.utils import timezone

from core.registries import register_prunable
from drafting.models import Draft

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Status = Draft.Status
ARCHIVABLE = (Status.DRAFT, Status.IN_REVIEW, Status.APPROVED)


def _clocked(drafts: QuerySet) -> QuerySet:
    return drafts.annotate(retention_clock=Value(EPOCH, output_field=DateTimeField()))


def untouched_drafts() -> QuerySet:
    cutoff = timezone.now() - timedelta(days=settings.DRAFT_ARCHIVE_DAYS)
    return _clocked(Draft.objects.filter(status__in=ARCHIVABLE, touched_at__lt=cutoff))


def archive(batch: QuerySet) -> int:
    """Archive the batch (a conditional UPDATE: a draft moved meanwhile is left alone)."""
    now = timezone.now()
    ids = list(batch.values_list("pk", flat=True))
    return Draft.objects.filter(pk__in=ids, status__in=ARCHIVABLE).update(
        status=Status.ARCHIVED, archived_at=now, status_note="archived: untouched for "
                                                             f"{settings.DRAFT_ARCHIVE_DAYS} days")


def expired_archived_drafts() -> QuerySet:
    cutoff = timezone.now() - timedelta(days=settings.DRAFT_RETENTION_DAYS)
    return _clocked(Draft.objects.filter(status=Status.ARCHIVED, archived_at__lt=cutoff, published_at__isnull=True))


def register() -> None:
    register_prunable("drafting.archive_untouched", untouched_drafts, "retention_clock", action=archive)
    register_prunable("drafting.delete_archived", expired_archived_drafts, "retention_clock")
