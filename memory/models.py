"""Episodic memory (what happened) and semantic memory (what is known, found by meaning), per tenant.

Working memory lives in Redis (memory/working.py) and has no model."""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from core.models import TenantOwned, TenantQuerySet

# The embedding column's width: all-MiniLM-L6-v2. A backend that declares another width is refused
# at start (memory/checks.py), since every stored vector and every query must share one space.
EMBEDDING_DIMENSIONS = 384
# Full-text search configuration; the generated column and every query must name the same one.
TEXT_SEARCH_CONFIG = "english"


class MemoryItemQuerySet(TenantQuerySet):
    def live(self):
        """Items not yet expired: an expired item is hidden at once, though pruned only later."""
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now()))


class MemoryItem(TenantOwned):
    """One thing the tenant knows. The same content stored twice in a tenant is one item (its
    content hash is unique per tenant), and storing it again merges metadata, never deletes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    content = models.TextField()
    source = models.CharField(max_length=64, default="api")
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    # Kept by PostgreSQL itself, so raw SQL, COPY and the ORM can never disagree with the index.
    search = models.GeneratedField(expression=SearchVector("content", config=TEXT_SEARCH_CONFIG),
                                   output_field=SearchVectorField(), db_persist=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What produced it, when something did: ids, not foreign keys (memory sits below the task layer).
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    escalation_id = models.UUIDField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MemoryItemQuerySet.as_manager()

    class Meta:
        db_table = "memory_item"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "content_hash"], name="memoryitem_unique_content"),
        ]
        indexes = [
            # m=32, ef_construction=128, not pgvector's 16/64: at a million items of tight clusters (bench/memory.py)
            # 16/64 finds 0.83 of the true top 10 even at ef_search 100, and 0.94 at 800; 32/128 finds 0.98 at
            # 100 (docs/BENCHMARKS.md), for 2.4x the build time and a larger index.
            HnswIndex(name="memoryitem_embedding_hnsw", fields=["embedding"], m=32, ef_construction=128,
                      opclasses=["vector_cosine_ops"]),
            GinIndex(name="memoryitem_search_gin", fields=["search"]),
            # metadata @> '{"k": "v"}' filters.
            GinIndex(name="memoryitem_metadata_gin", fields=["metadata"], opclasses=["jsonb_path_ops"]),
            models.Index(name="memoryitem_tenant_created", fields=["tenant", "-created_at"]),
            models.Index(name="memoryitem_tenant_source", fields=["tenant", "source"]),
            models.Index(name="memoryitem_expires", fields=["expires_at"],
                         condition=models.Q(expires_at__isnull=False)),
        ]

    def __str__(self):
        return self.content[:60]


class EpisodicEvent(TenantOwned):
    """Something that happened: a task result, an inbound or an outbound message. Append-only;
    removed only by the retention job."""

    class Kind(models.TextChoices):
        TASK_RESULT = "task_result"
        INBOUND_MESSAGE = "inbound_message"
        OUTBOUND_MESSAGE = "outbound_message"
        NOTE = "note"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    source = models.CharField(max_length=64)  # "research", "slack", "sms", ...
    actor = models.CharField(max_length=150, blank=True)
    content = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "memory_episodic_event"
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(name="episodic_tenant_time", fields=["tenant", "-occurred_at"]),
            models.Index(name="episodic_tenant_source_time", fields=["tenant", "source", "-occurred_at"]),
            # The retention job deletes by age across tenants.
            models.Index(name="episodic_occurred", fields=["occurred_at"]),
        ]
        constraints = [
            # A task has one result event: a retried handler replaces it rather than adding another.
            models.UniqueConstraint(fields=["task_id"], name="episodic_one_result_per_task",
                                    condition=models.Q(kind="task_result", task_id__isnull=False)),
        ]

    def __str__(self):
        return f"{self.kind} {self.source} {self.occurred_at:%Y-%m-%d %H:%M}"


class MemoryBulkJob(TenantOwned):
    """A bulk store handed to a worker; its progress (done of total) is what the status URL shows."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    # The items to store, until they are stored; emptied when the job ends so content is kept once.
    items = models.JSONField(default=list, blank=True)
    item_ids = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "memory_bulk_job"
        ordering = ["-created_at"]

    def __str__(self):
        return f"bulk {self.id} {self.done}/{self.total} {self.status}"
