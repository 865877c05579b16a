"""Writes of memory: semantic items (store, bulk, delete, prune) and episodic events
(recorded here; the retention job prunes them).

Storing is idempotent by content: the same content in one tenant is one item, and storing it again
merges its metadata into the item's (the newer value wins per key), never deletes anything."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from core.errors import Invalid, NotFound
from memory.metrics import STORE_DURATION, timed
from memory.models import EMBEDDING_DIMENSIONS, EpisodicEvent, MemoryBulkJob, MemoryItem
from memory.selectors import vector_literal

logger = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 20_000
MAX_SOURCE_CHARS = 64
MAX_BULK_ITEMS = 1000
# Items embedded and written together by the bulk job; progress is reported after each chunk.
BULK_CHUNK = 32
PRUNE_BATCH = 5000
# pgvector stores float32: a larger magnitude would overflow to infinity in the column.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class StoredItem:
    id: str
    created: bool


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def checked_embedding(embedding) -> list[float]:
    """A client's vector as floats, or a 400 that names the width the column expects."""
    expected = f"Expected a list of {EMBEDDING_DIMENSIONS} finite numbers (the embedding dimension)"
    if not isinstance(embedding, (list, tuple)):
        raise Invalid(details={"embedding": [f"{expected}."]})
    if len(embedding) != EMBEDDING_DIMENSIONS:
        raise Invalid(details={"embedding": [f"{expected}; got {len(embedding)}."]})
    values = []
    for position, value in enumerate(embedding):
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or abs(value) > FLOAT32_MAX):
            raise Invalid(details={"embedding": [f"{expected}; position {position} is {value!r}."]})
        values.append(float(value))
    if not any(values):
        raise Invalid(details={"embedding": [f"{expected}, not all zero (a zero vector has no direction)."]})
    return values


def _checked_item(content, source, metadata) -> tuple[str, str, dict]:
    errors = {}
    if not isinstance(content, str) or not content.strip():
        errors["content"] = ["Required, not blank."]
    elif len(content) > MAX_CONTENT_CHARS:
        errors["content"] = [f"At most {MAX_CONTENT_CHARS} characters."]
    if not isinstance(source, str) or not source or len(source) > MAX_SOURCE_CHARS:
        errors["source"] = [f"1 to {MAX_SOURCE_CHARS} characters."]
    if metadata is not None and not isinstance(metadata, dict):
        errors["metadata"] = ["Expected a JSON object."]
    if errors:
        raise Invalid(details=errors)
    return content, source, metadata or {}


# Expired items are hidden already: content stored again revives the row as new (its old metadata
# and source are not brought back); live ones merge. An item keeps the longer life of the two.
# statement_timestamp(), not now(): expiry is judged at this statement, even in a long transaction.
_UPSERT_SQL = """
WITH prior AS (
    SELECT expires_at <= statement_timestamp() AS expired
    FROM memory_item WHERE tenant_id = %(tenant_id)s AND content_hash = %(content_hash)s
)
INSERT INTO memory_item (id, tenant_id, content, source, metadata, content_hash, embedding, expires_at,
                         task_id, escalation_id, created_by_id, created_at, updated_at)
VALUES (%(id)s, %(tenant_id)s, %(content)s, %(source)s, %(metadata)s::jsonb, %(content_hash)s,
        %(embedding)s::vector, %(expires_at)s, %(task_id)s, %(escalation_id)s, %(created_by_id)s,
        statement_timestamp(), statement_timestamp())
ON CONFLICT (tenant_id, content_hash) DO UPDATE SET
    metadata = CASE WHEN memory_item.expires_at <= statement_timestamp() THEN EXCLUDED.metadata
                    ELSE memory_item.metadata || EXCLUDED.metadata END,
    source = CASE WHEN memory_item.expires_at <= statement_timestamp() THEN EXCLUDED.source
                  ELSE memory_item.source END,
    created_at = CASE WHEN memory_item.expires_at <= statement_timestamp() THEN statement_timestamp()
                      ELSE memory_item.created_at END,
    expires_at = CASE WHEN memory_item.expires_at <= statement_timestamp() THEN EXCLUDED.expires_at
                      WHEN memory_item.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
                      ELSE GREATEST(memory_item.expires_at, EXCLUDED.expires_at) END,
    embedding = EXCLUDED.embedding,
    task_id = COALESCE(memory_item.task_id, EXCLUDED.task_id),
    escalation_id = COALESCE(memory_item.escalation_id, EXCLUDED.escalation_id),
    updated_at = statement_timestamp()
-- xmax = 0 marks a freshly inserted row; a revived expired one counts as new too.
RETURNING id, xmax = 0 OR COALESCE((SELECT expired FROM prior), false)
"""


def _upsert(cursor, *, tenant_id, content: str, source: str, metadata: dict, embedding, expires_at,
            task_id, escalation_id, created_by_id) -> StoredItem:
    cursor.execute(_UPSERT_SQL, {
        "id": uuid.uuid4(), "tenant_id": tenant_id, "content": content, "source": source,
        "metadata": json.dumps(metadata), "content_hash": content_hash(content),
        "embedding": vector_literal(embedding), "expires_at": expires_at, "task_id": task_id,
        "escalation_id": escalation_id, "created_by_id": created_by_id,
    })
    item_id, created = cursor.fetchone()
    return StoredItem(id=str(item_id), created=bool(created))


def memory_store(*, tenant_id, content: str, source: str = "api", metadata: dict | None = None, embedding=None,
                 expires_at: datetime | None = None, task_id=None, escalation_id=None,
                 created_by_id=None) -> StoredItem:
    """Store one item, embedding its content unless the caller brings a vector of the right width.
    The same content again is the same item: `created` is False and the metadata is merged."""
    content, source, metadata = _checked_item(content, source, metadata)
    if embedding is None:
        from memory.embedders import get_embedder

        with timed(STORE_DURATION, "embed"):
            embedding = get_embedder().embed_one(content)
    else:
        embedding = checked_embedding(embedding)
    with timed(STORE_DURATION, "store"), transaction.atomic(), connection.cursor() as cursor:
        return _upsert(cursor, tenant_id=tenant_id, content=content, source=source, metadata=metadata,
                       embedding=embedding, expires_at=expires_at, task_id=task_id, escalation_id=escalation_id,
                       created_by_id=created_by_id)


def memory_store_many(*, tenant_id, items: list[dict], created_by_id=None) -> list[StoredItem]:
    """Store many items in one transaction, embedded in one batch; one result per item, in order
    (the same content twice in the batch gives the same id twice)."""
    checked = [(*_checked_item(item.get("content"), item.get("source", "api"), item.get("metadata")),
                item.get("expires_at")) for item in items]
    if not checked:
        return []
    from memory.embedders import get_embedder

    with timed(STORE_DURATION, "embed"):
        vectors = get_embedder().embed([content for content, _, _, _ in checked])
    results = []
    with timed(STORE_DURATION, "store_many"), transaction.atomic(), connection.cursor() as cursor:
        for (content, source, metadata, expires_at), vector in zip(checked, vectors):
            results.append(_upsert(cursor, tenant_id=tenant_id, content=content, source=source, metadata=metadata,
                                   embedding=vector, expires_at=_as_datetime(expires_at), task_id=None,
                                   escalation_id=None, created_by_id=created_by_id))
    return results


def memory_delete(*, tenant_id, item_id) -> None:
    """Delete one item of the tenant; another tenant's or a missing one is not found."""
    with timed(STORE_DURATION, "delete"):
        deleted, _ = MemoryItem.objects.for_tenant(tenant_id).live().filter(pk=item_id).delete()
    if not deleted:
        raise NotFound("No such memory item.")


def memory_prune_expired(*, batch_size: int = PRUNE_BATCH) -> int:
    """Delete expired items in batches (short locks, no long transaction); how many went."""
    total = 0
    with timed(STORE_DURATION, "prune"):
        while True:
            ids = list(MemoryItem.objects.filter(expires_at__lte=timezone.now())
                       .values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            deleted, _ = MemoryItem.objects.filter(pk__in=ids, expires_at__lte=timezone.now()).delete()
            total += deleted


# --- bulk store through a worker ----------------------------------------------------------------


def memory_bulk_start(*, tenant_id, items: list[dict], created_by_id=None) -> MemoryBulkJob:
    """Record a bulk job with its items and queue it after commit; the worker reports progress on the row."""
    if not items:
        raise Invalid(details={"items": ["At least one item."]})
    if len(items) > MAX_BULK_ITEMS:
        raise Invalid(details={"items": [f"At most {MAX_BULK_ITEMS} items a request."]})
    errors = {}
    for position, item in enumerate(items):
        try:
            _checked_item(item.get("content"), item.get("source", "api"), item.get("metadata"))
        except Invalid as exc:
            errors[str(position)] = exc.details
    if errors:
        raise Invalid(details={"items": errors})
    stored = [{**item, "expires_at": item["expires_at"].isoformat() if item.get("expires_at") else None}
              for item in items]
    with transaction.atomic():
        job = MemoryBulkJob.objects.create(tenant_id=tenant_id, total=len(items), items=stored,
                                           created_by_id=created_by_id)
        from memory.tasks import bulk_store

        transaction.on_commit(lambda: bulk_store.delay(str(job.pk)))
    return job


def memory_bulk_run(*, job_id, chunk_size: int = BULK_CHUNK) -> str:
    """Store a bulk job's items chunk by chunk from where it stands. Safe to run twice (a redelivered
    message after a lost worker): the items already stored are stored again as the same items."""
    claimed = MemoryBulkJob.objects.filter(
        pk=job_id, status__in=(MemoryBulkJob.Status.QUEUED, MemoryBulkJob.Status.RUNNING),
    ).update(status=MemoryBulkJob.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return "not-claimed"
    job = MemoryBulkJob.objects.get(pk=job_id)
    item_ids = list(job.item_ids[: job.done])
    try:
        for start in range(job.done, job.total, chunk_size):
            chunk = job.items[start : start + chunk_size]
            with timed(STORE_DURATION, "bulk_chunk"), transaction.atomic():
                stored = memory_store_many(tenant_id=job.tenant_id, items=chunk, created_by_id=job.created_by_id)
                item_ids.extend(item.id for item in stored)
                MemoryBulkJob.objects.filter(pk=job_id).update(done=start + len(chunk), item_ids=item_ids)
    except Exception as exc:
        logger.exception("bulk memory job %s failed", job_id)
        MemoryBulkJob.objects.filter(pk=job_id).update(status=MemoryBulkJob.Status.FAILED,
                                                       error=f"{type(exc).__name__}: {exc}"[:2000],
                                                       finished_at=timezone.now())
        return "failed"
    MemoryBulkJob.objects.filter(pk=job_id).update(status=MemoryBulkJob.Status.SUCCEEDED, items=[],
                                                   finished_at=timezone.now())
    return "succeeded"


# --- episodic memory ----------------------------------------------------------------------------


def episode_record(*, tenant_id, kind: str, source: str, actor: str = "", content: str = "",
                   metadata: dict | None = None, task_id=None, occurred_at: datetime | None = None) -> EpisodicEvent:
    """Record something that happened (a task result, an inbound or outbound message)."""
    if kind not in EpisodicEvent.Kind.values:
        raise ValueError(f"kind must be one of {EpisodicEvent.Kind.values}")
    with timed(STORE_DURATION, "episode"):
        if kind == EpisodicEvent.Kind.TASK_RESULT and task_id is not None:
            # One result event per task: a retried or redelivered handler replaces it.
            event, _ = EpisodicEvent.objects.update_or_create(
                task_id=task_id, kind=kind,
                defaults={"tenant_id": tenant_id, "source": source[:64], "actor": actor[:150], "content": content,
                          "metadata": metadata or {}, "occurred_at": occurred_at or timezone.now()})
            return event
        return EpisodicEvent.objects.create(tenant_id=tenant_id, kind=kind, source=source[:64], actor=actor[:150],
                                            content=content, metadata=metadata or {}, task_id=task_id,
                                            occurred_at=occurred_at or timezone.now())


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
