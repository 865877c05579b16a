"""Reads of memory: semantic search (hybrid: vectors and full text), items, episodes, bulk jobs.

Every read is scoped to one tenant and hides expired items, whatever the filters say."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection, transaction
from django.db.models import QuerySet

from core.errors import NotFound
from memory.metrics import QUERY_DURATION, timed
from memory.models import TEXT_SEARCH_CONFIG, EpisodicEvent, MemoryBulkJob, MemoryItem

# Reciprocal rank fusion's k (Cormack et al. 2009): damps the head so one leg's first place cannot
# drown a document both legs rank well.
RRF_K = 60
MAX_LIMIT = 50
# HNSW's search list. 40 (pgvector's default) lets a greedy search settle in the wrong cluster of
# clustered data (whole queries at recall 0 in bench/memory.py); 100 finds them, for ~1 ms more.
HNSW_EF_SEARCH = 100


@dataclass(frozen=True)
class SearchHit:
    id: str
    content: str
    source: str
    metadata: dict
    created_at: datetime
    expires_at: datetime | None
    task_id: str | None
    score: float  # the fused RRF score results are ordered by
    vector_score: float | None  # cosine similarity, 1 - cosine distance; None outside the vector candidates
    vector_rank: int | None
    text_score: float | None  # ts_rank_cd; None when the text leg did not match the item
    text_rank: int | None


def vector_literal(vector) -> str:
    """pgvector's text form; 9 significant digits round-trip a float32 exactly."""
    return "[" + ",".join(f"{float(x):.9g}" for x in np.asarray(vector, dtype=np.float32).ravel()) + "]"


def candidate_count(limit: int) -> int:
    """How many candidates each leg brings to the fusion: enough that fusion can reorder the head."""
    return max(limit * 4, 40)


def _filter_sql(*, tenant_id, source: str | None, metadata: dict | None, since: datetime | None,
                until: datetime | None) -> tuple[str, dict]:
    # statement_timestamp(), not now(): an item expires at its time even inside a long transaction.
    clauses = ["tenant_id = %(tenant_id)s", "(expires_at IS NULL OR expires_at > statement_timestamp())"]
    params: dict = {"tenant_id": tenant_id}
    if source:
        clauses.append("source = %(source)s")
        params["source"] = source
    if metadata:
        clauses.append("metadata @> %(metadata)s::jsonb")
        params["metadata"] = json.dumps(metadata)
    if since:
        clauses.append("created_at >= %(since)s")
        params["since"] = since
    if until:
        clauses.append("created_at < %(until)s")
        params["until"] = until
    return " AND ".join(clauses), params


def _scan_settings(cursor, candidates: int) -> None:
    """Let a filtered HNSW scan keep going until it has `candidates` rows (pgvector 0.8 iterative
    scans), with a search list at least that long. Transaction-local: the caller holds a transaction."""
    cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                   "set_config('hnsw.ef_search', %s, true)", [str(min(max(candidates, HNSW_EF_SEARCH), 1000))])


_HYBRID_SQL = """
WITH vector_hits AS MATERIALIZED (
    SELECT id, embedding <=> %(query_vector)s::vector AS distance
    FROM memory_item
    WHERE {where}
    ORDER BY embedding <=> %(query_vector)s::vector
    LIMIT %(candidates)s
), vector_ranked AS (
    -- relaxed_order may return neighbours slightly out of order: rank them exactly here.
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank FROM vector_hits
), text_ranked AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT id, ts_rank_cd(search, query) AS score
        FROM memory_item, websearch_to_tsquery('{config}', %(query_text)s) AS query
        WHERE {where} AND search @@ query
        ORDER BY score DESC, id
        LIMIT %(candidates)s
    ) AS text_hits
), fused AS (
    SELECT COALESCE(v.id, t.id) AS id, v.distance, v.rank AS vector_rank, t.score AS text_score,
           t.rank AS text_rank,
           COALESCE(1.0 / (%(rrf_k)s + v.rank), 0) + COALESCE(1.0 / (%(rrf_k)s + t.rank), 0) AS rrf
    FROM vector_ranked v FULL OUTER JOIN text_ranked t ON v.id = t.id
)
SELECT m.id, m.content, m.source, m.metadata, m.created_at, m.expires_at, m.task_id,
       f.rrf, 1 - f.distance, f.vector_rank, f.text_score, f.text_rank
FROM fused f JOIN memory_item m ON m.id = f.id
ORDER BY f.rrf DESC, f.distance ASC NULLS LAST, m.id
LIMIT %(limit)s
"""


def memory_search(*, tenant_id, query: str, limit: int = 10, source: str | None = None,
                  metadata: dict | None = None, since: datetime | None = None, until: datetime | None = None,
                  query_embedding=None) -> list[SearchHit]:
    """The tenant's live items most relevant to `query`, best first: vector neighbours and full-text
    matches merged by reciprocal rank fusion, every filter applied inside both legs (so a filtered
    search still fills `limit` when that many items match)."""
    from memory.embedders import get_embedder

    limit = max(1, min(int(limit), MAX_LIMIT))
    if query_embedding is None:
        with timed(QUERY_DURATION, "embed_query"):
            query_embedding = get_embedder().embed_one(query)
    where, params = _filter_sql(tenant_id=tenant_id, source=source, metadata=metadata, since=since, until=until)
    candidates = candidate_count(limit)
    params.update(query_vector=vector_literal(query_embedding), query_text=query, candidates=candidates,
                  rrf_k=RRF_K, limit=limit)
    sql = _HYBRID_SQL.format(where=where, config=TEXT_SEARCH_CONFIG)
    with timed(QUERY_DURATION, "search"), transaction.atomic(), connection.cursor() as cursor:
        _scan_settings(cursor, candidates)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [SearchHit(id=str(row[0]), content=row[1], source=row[2], metadata=_json(row[3]), created_at=row[4],
                      expires_at=row[5], task_id=str(row[6]) if row[6] else None, score=float(row[7]),
                      vector_score=_number(row[8]), vector_rank=row[9], text_score=_number(row[10]),
                      text_rank=row[11])
            for row in rows]


def memory_vector_search(*, tenant_id, embedding, limit: int = 10, source: str | None = None,
                         metadata: dict | None = None, since: datetime | None = None,
                         until: datetime | None = None, exact: bool = False,
                         candidates: int | None = None) -> list[tuple[str, float]]:
    """(id, cosine distance) of the nearest live items, nearest first: the vector leg on its own.
    `exact` turns index scans off, so the answer is the true nearest neighbours (the benchmark's truth)."""
    where, params = _filter_sql(tenant_id=tenant_id, source=source, metadata=metadata, since=since, until=until)
    params.update(query_vector=vector_literal(embedding), limit=limit)
    sql = (f"SELECT id, distance FROM (SELECT id, embedding <=> %(query_vector)s::vector AS distance "
           f"FROM memory_item WHERE {where} ORDER BY embedding <=> %(query_vector)s::vector "
           f"LIMIT %(limit)s) AS hits ORDER BY distance, id")
    with timed(QUERY_DURATION, "vector_search"), transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
        else:
            _scan_settings(cursor, candidates or candidate_count(limit))
        cursor.execute(sql, params)
        return [(str(row[0]), float(row[1])) for row in cursor.fetchall()]


def memory_get(*, tenant_id, item_id) -> MemoryItem:
    """One live item of the tenant; another tenant's, an expired or a missing one is not found alike."""
    with timed(QUERY_DURATION, "get"):
        item = MemoryItem.objects.for_tenant(tenant_id).live().defer("embedding", "search").filter(pk=item_id).first()
    if item is None:
        raise NotFound("No such memory item.")
    return item


def memory_item_count(*, tenant_id) -> int:
    return MemoryItem.objects.for_tenant(tenant_id).live().count()


def episodes(*, tenant_id, since: datetime | None = None, until: datetime | None = None, source: str | None = None,
             kind: str | None = None, task_id=None) -> QuerySet[EpisodicEvent]:
    """The tenant's episodic events, newest first, within [since, until) and the given filters."""
    events = EpisodicEvent.objects.for_tenant(tenant_id)
    if since:
        events = events.filter(occurred_at__gte=since)
    if until:
        events = events.filter(occurred_at__lt=until)
    if source:
        events = events.filter(source=source)
    if kind:
        events = events.filter(kind=kind)
    if task_id:
        events = events.filter(task_id=task_id)
    return events.order_by("-occurred_at", "-created_at")


def bulk_job_get(*, tenant_id, job_id) -> MemoryBulkJob:
    job = MemoryBulkJob.objects.for_tenant(tenant_id).defer("items").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such bulk job.")
    return job


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
