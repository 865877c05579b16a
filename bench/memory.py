"""Semantic-memory benchmark: search latency and recall at 100,000 items, and embedding throughput.

100,000 unit vectors (384-d) drawn around 1,000 random centroids, so every item has true near
neighbours and recall means something, are loaded with binary COPY into one tenant; the HNSW and
full-text indexes are built after the load, as a bulk import would. Queries are fresh vectors drawn
around random centroids. For each query the search path Emma uses (memory.selectors, HNSW with
pgvector's iterative scan) is timed and its top 10 compared with an exact scan (index scans off):
unfiltered, and with a filter on `source` that matches 10% of the items. The hybrid search (vector
and full text fused) is timed on the same queries. Embedding throughput is MiniLM over short texts,
and the store path (embed and upsert) over the API's service.

    run(report)              # inside `make bench` (Django set up, migrated): fills report["memory"]
    python -m bench.memory   # on its own: embedded PostgreSQL and Valkey in .emma/bench-memory

Timings are reported, never enforced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parents[1]
# BENCH_SCALE=large: a million items (minutes of loading and index building), else 100,000.
ITEMS = int(os.environ.get("BENCH_MEMORY_ITEMS", 1_000_000 if os.environ.get("BENCH_SCALE") == "large" else 100_000))
CLUSTERS = int(os.environ.get("BENCH_MEMORY_CLUSTERS", 1_000))
QUERIES = int(os.environ.get("BENCH_MEMORY_QUERIES", 200))
DIMENSIONS = 384
LIMIT = 10
# One item in FILTER_EVERY carries the filtered source: a filter that matches 10% of the items.
FILTER_EVERY = 10
FILTER_SOURCE = "s0"
# Noise around each centroid, as a fraction of the centroid's length: items of one cluster have a
# cosine near 0.6 with each other, so each query's ten nearest sit among ~100 close candidates.
NOISE = 0.8
TENANT_SLUG = "bench-memory"
GOALS = {"p95_ms": 20.0, "recall_unfiltered": 0.95, "recall_filtered": 0.95}
LARGE_RUN = BASE_DIR / "docs" / "benchmarks" / "memory-large.json"
HEAVY_INDEXES = ("memoryitem_embedding_hnsw", "memoryitem_search_gin", "memoryitem_metadata_gin")
# A small vocabulary; each cluster talks about its own few words, so full-text queries find their cluster.
SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ra", "to", "vi", "de", "po", "lu", "ga", "fe", "zo", "bi", "tu")


def say(message: str) -> None:
    print(f"bench | memory: {message}", flush=True)


def _percentile(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)), 3)


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _around(centroids: np.ndarray, which: np.ndarray, rng) -> np.ndarray:
    noise = rng.standard_normal((len(which), DIMENSIONS), dtype=np.float32) * np.float32(NOISE / np.sqrt(DIMENSIONS))
    return _unit_rows(centroids[which] + noise)


def _vocabulary(rng, size: int = 4000) -> list[str]:
    words = {"".join(rng.choice(SYLLABLES, size=3)) for _ in range(size * 2)}
    return sorted(words)[:size]


def dataset(rng):
    """Vectors, contents, sources and metadata of every item; queries and their texts."""
    centroids = _unit_rows(rng.standard_normal((CLUSTERS, DIMENSIONS), dtype=np.float32))
    cluster_of = rng.integers(CLUSTERS, size=ITEMS)
    vectors = np.empty((ITEMS, DIMENSIONS), dtype=np.float32)
    for start in range(0, ITEMS, 10_000):
        vectors[start : start + 10_000] = _around(centroids, cluster_of[start : start + 10_000], rng)
    words = np.asarray(_vocabulary(rng))
    topics = rng.integers(len(words), size=(CLUSTERS, 12))
    contents = [f"note {i} " + " ".join(words[rng.choice(topics[c], size=6)]) for i, c in enumerate(cluster_of)]
    query_clusters = rng.integers(CLUSTERS, size=QUERIES)
    queries = _around(centroids, query_clusters, rng)
    query_texts = [" ".join(words[rng.choice(topics[c], size=2, replace=False)]) for c in query_clusters]
    return vectors, contents, queries, query_texts


def _conninfo() -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {"dbname": db["NAME"], "user": db["USER"], "password": db.get("PASSWORD") or None,
            "host": db["HOST"] or None, "port": db.get("PORT") or None}


def load(tenant_id: int, vectors: np.ndarray, contents: list[str]) -> float:
    """Binary COPY of every item on a connection of its own (pgvector's binary format). Seconds taken."""
    import psycopg
    from pgvector.psycopg import register_vector

    started = time.perf_counter()
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    with psycopg.connect(**_conninfo()) as conn:
        register_vector(conn)
        with conn.cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz", [now])
            stamp = cursor.fetchone()[0]
            with cursor.copy("COPY memory_item (id, tenant_id, content, source, metadata, content_hash, embedding, "
                             "created_at, updated_at) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "text", "varchar", "jsonb", "varchar", "vector", "timestamptz",
                                "timestamptz"])
                for i, (content, vector) in enumerate(zip(contents, vectors)):
                    group = i % FILTER_EVERY
                    copy.write_row([uuid.uuid4(), tenant_id, content, f"s{group}", {"group": group},
                                    hashlib.sha256(content.encode()).hexdigest(), vector, stamp, stamp])
    return time.perf_counter() - started


def _graph() -> str:
    """The HNSW index's build parameters, as the model declares them."""
    from memory.models import MemoryItem

    index = next(index for index in MemoryItem._meta.indexes if index.name == "memoryitem_embedding_hnsw")
    return f"m={index.m}, ef_construction={index.ef_construction}"


def _heavy_indexes():
    from memory.models import MemoryItem

    return [index for index in MemoryItem._meta.indexes if index.name in HEAVY_INDEXES]


def prepare_table(tenant_id: int) -> bool:
    """Empty the bench tenant; drop the heavy indexes if nobody else has items (they are rebuilt after
    the load, which is several times faster than maintaining them row by row). Whether they were dropped."""
    from django.db import connection

    from memory.models import MemoryItem

    MemoryItem.objects.filter(tenant_id=tenant_id).delete()
    if MemoryItem.objects.exists():
        say("memory_item holds other tenants' items: loading with the indexes in place")
        return False
    with connection.schema_editor() as editor:
        for index in _heavy_indexes():
            editor.remove_index(MemoryItem, index)
    return True


def build_indexes() -> dict:
    """Rebuild the dropped indexes with room to build the HNSW graph in memory, in parallel."""
    from django.db import connection

    from memory.models import MemoryItem

    seconds = {}
    with connection.cursor() as cursor:
        # The whole graph in memory (about 4 KB an item at 384 dimensions, m=32): built on disk it is many
        # times slower.
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [f"{max(1024, ITEMS * 4 // 1024)}MB"])
        cursor.execute("SET max_parallel_maintenance_workers = %s", [max(1, (os.cpu_count() or 2) - 1)])
    try:
        for index in _heavy_indexes():
            started = time.perf_counter()
            with connection.schema_editor() as editor:
                editor.add_index(MemoryItem, index)
            seconds[index.name] = round(time.perf_counter() - started, 1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memory_item")
    return seconds


def plan(tenant_id: int, query, source: str | None) -> str:
    """Which access path PostgreSQL picks for the vector leg, with the selector's own scan settings."""
    from django.db import connection, transaction

    from memory import selectors

    where, params = selectors._filter_sql(tenant_id=tenant_id, source=source, metadata=None, since=None, until=None)
    params.update(query_vector=selectors.vector_literal(query), limit=selectors.candidate_count(LIMIT))
    with transaction.atomic(), connection.cursor() as cursor:
        selectors._scan_settings(cursor, selectors.candidate_count(LIMIT))
        cursor.execute(f"EXPLAIN SELECT id FROM memory_item WHERE {where} "
                       f"ORDER BY embedding <=> %(query_vector)s::vector LIMIT %(limit)s", params)
        text = "\n".join(row[0] for row in cursor.fetchall())
    if "memoryitem_embedding_hnsw" in text:
        return "HNSW index scan (iterative, relaxed order)"
    if "Seq Scan" in text:
        return "sequential scan + top-N sort (exact)"
    return "b-tree index scan + top-N sort (exact)"


def _timed(function, queries) -> tuple[list[float], list]:
    results, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(function(query))
        latencies.append((time.perf_counter() - started) * 1000.0)
    return latencies, results


def search_figures(tenant_id: int, queries: np.ndarray, query_texts: list[str], source: str | None) -> dict:
    """p50/p95 of the HNSW path and its recall@10 against an exact scan, for one filter (or none)."""
    from memory import selectors

    def hnsw(query):
        return [item_id for item_id, _ in selectors.memory_vector_search(tenant_id=tenant_id, embedding=query,
                                                                         limit=LIMIT, source=source)]

    def exact(query):
        return [item_id for item_id, _ in selectors.memory_vector_search(tenant_id=tenant_id, embedding=query,
                                                                         limit=LIMIT, source=source, exact=True)]

    _timed(hnsw, queries[:20])  # warm the index into shared buffers
    latencies, found = _timed(hnsw, queries)
    exact_latencies, truth = _timed(exact, queries)
    recalls = [len(set(f) & set(t)) / len(t) for f, t in zip(found, truth) if t]
    hybrid_latencies, hybrid = _timed(
        lambda pair: selectors.memory_search(tenant_id=tenant_id, query=pair[1], query_embedding=pair[0],
                                             limit=LIMIT, source=source),
        list(zip(queries, query_texts)))
    return {
        "queries": len(queries),
        "plan": plan(tenant_id, queries[0], source),
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "recall_at_10": round(statistics.fmean(recalls), 4),
        "min_recall_at_10": round(min(recalls), 2),
        "full_results": round(sum(len(f) == LIMIT for f in found) / len(found), 4),
        "exact_p50_ms": _percentile(exact_latencies, 50),
        "hybrid_p50_ms": _percentile(hybrid_latencies, 50),
        "hybrid_p95_ms": _percentile(hybrid_latencies, 95),
        "hybrid_text_matches": round(statistics.fmean(sum(h.text_rank is not None for h in hits) for hits in hybrid),
                                     2),
    }


def embedding_figures(tenant_id: int, rng) -> dict:
    """MiniLM texts/s in batches, and the store path (embed + upsert) items/s."""
    from memory import services
    from memory.embedders import get_minilm_embedder

    embedder = get_minilm_embedder()
    texts = [f"Reminder {i}: the {('weekly', 'monthly', 'quarterly')[i % 3]} report for team {i % 17} is due on "
             f"{('Monday', 'Wednesday', 'Friday')[i % 3]}, and the draft goes to review first." for i in range(512)]
    embedder.embed(texts[:32])  # load the model outside the timing
    started = time.perf_counter()
    embedder.embed(texts)
    embed_seconds = time.perf_counter() - started
    items = [{"content": f"Stored note {uuid.uuid4().hex}: {text}", "source": "bench-store"} for text in texts[:256]]
    started = time.perf_counter()
    for start in range(0, len(items), 32):
        services.memory_store_many(tenant_id=tenant_id, items=items[start : start + 32])
    store_seconds = time.perf_counter() - started
    return {
        "texts": len(texts),
        "texts_per_second": round(len(texts) / embed_seconds, 1),
        "ms_per_text": round(embed_seconds * 1000 / len(texts), 2),
        "store_items": len(items),
        "store_items_per_second": round(len(items) / store_seconds, 1),
    }


def run(report: dict) -> None:
    """Put the semantic-memory figures into report["memory"]; Django must be set up and migrated."""
    from core.models import Tenant

    rng = np.random.default_rng(20240611)
    started = time.perf_counter()
    tenant, _ = Tenant.objects.get_or_create(slug=TENANT_SLUG, defaults={"name": "Memory benchmark"})
    say(f"generating {ITEMS:,} vectors around {CLUSTERS:,} centroids")
    vectors, contents, queries, query_texts = dataset(rng)
    dropped = prepare_table(tenant.pk)
    say("loading with binary COPY")
    load_seconds = load(tenant.pk, vectors, contents)
    del vectors
    say(f"loaded in {load_seconds:.1f} s; building indexes")
    index_seconds = build_indexes() if dropped else {}
    if not dropped:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE memory_item")
    say(f"indexes built: {index_seconds}; searching")
    unfiltered = search_figures(tenant.pk, queries, query_texts, source=None)
    say(f"unfiltered: {json.dumps(unfiltered)}")
    filtered = search_figures(tenant.pk, queries, query_texts, source=FILTER_SOURCE)
    say(f"filtered (10%): {json.dumps(filtered)}")
    embedding = embedding_figures(tenant.pk, rng)
    say(f"embedding: {json.dumps(embedding)}")
    report["memory"] = {
        "label": (f"{ITEMS:,} items of {DIMENSIONS} dimensions around {CLUSTERS:,} centroids, one tenant; "
                  f"HNSW {_graph()}, cosine; top {LIMIT}; {QUERIES} queries per figure"),
        "items": ITEMS,
        "dimensions": DIMENSIONS,
        "clusters": CLUSTERS,
        "load_seconds": round(load_seconds, 1),
        "index_build_seconds": index_seconds,
        "unfiltered": unfiltered,
        "filtered": {**filtered, "label": f"source = '{FILTER_SOURCE}', 1 item in {FILTER_EVERY}"},
        "embedding": embedding,
        "goals": {
            **GOALS,
            "p95_met": unfiltered["p95_ms"] <= GOALS["p95_ms"] and filtered["p95_ms"] <= GOALS["p95_ms"],
            "recall_unfiltered_met": unfiltered["recall_at_10"] >= GOALS["recall_unfiltered"],
            "recall_filtered_met": (filtered["recall_at_10"] >= GOALS["recall_filtered"]
                                    and filtered["full_results"] == 1.0),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def keep_large_run(figures: dict, meta: dict) -> None:
    """A run at a million items or more is kept (docs/benchmarks/memory-large.json), so the default run's
    report can show it beside its own, with the date and commit it was measured at."""
    if figures["items"] >= 1_000_000:
        LARGE_RUN.parent.mkdir(parents=True, exist_ok=True)
        LARGE_RUN.write_text(json.dumps({**figures, "measured": meta}, indent=2) + "\n")


def markdown(report: dict) -> list[str]:
    """The memory section of docs/BENCHMARKS.md: this run's, and the last large run's if this one was not."""
    figures = report.get("memory")
    if not figures:
        return []
    lines = ["## Semantic memory", "", *_section(figures)]
    if figures["items"] < 1_000_000 and LARGE_RUN.exists():
        large = json.loads(LARGE_RUN.read_text())
        measured = large.get("measured", {})
        lines += [f"### At {large['items']:,} items (`BENCH_SCALE=large`)", "",
                  f"Kept from the last large run: {measured.get('date_utc', '?')}, commit `{measured.get('commit', '?')}`, "
                  f"{measured.get('cpu', '?')}, {measured.get('cores', '?')} cores. {large.get('note', '')}".rstrip(),
                  "", *_section(large)]
    return lines


def _section(figures: dict) -> list[str]:
    u, f, e, g = figures["unfiltered"], figures["filtered"], figures["embedding"], figures["goals"]

    def met(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    builds = ", ".join(f"{name} {seconds} s" for name, seconds in figures["index_build_seconds"].items()) or "n/a"
    return [
        f"{figures['label']}. Recall@10 is the share of the exact top 10 (an exact scan, index scans off) that the",
        "HNSW path returns; the filtered search must also return all 10 results.",
        "",
        "| Figure | Unfiltered | Filtered (10% of items) | Goal | |",
        "|---|---|---|---|---|",
        f"| Search p50 / p95 (HNSW path) | {u['p50_ms']:.2f} / {u['p95_ms']:.2f} ms | {f['p50_ms']:.2f} / "
        f"{f['p95_ms']:.2f} ms | p95 ≤ {g['p95_ms']:.0f} ms, both | {met(g['p95_met'])} |",
        f"| Recall@10 (mean; worst query) | {u['recall_at_10']:.3f} ({u['min_recall_at_10']:.1f}) | "
        f"{f['recall_at_10']:.3f} ({f['min_recall_at_10']:.1f}) | ≥ {g['recall_unfiltered']} unfiltered, "
        f"≥ {g['recall_filtered']} filtered | {met(g['recall_unfiltered_met'])} / {met(g['recall_filtered_met'])} |",
        f"| Queries returning all {LIMIT} results | {u['full_results']:.0%} | {f['full_results']:.0%} | 100% | |",
        f"| Access path PostgreSQL chose | {u['plan']} | {f['plan']} | | |",
        f"| Exact scan p50 (the truth above) | {u['exact_p50_ms']:.1f} ms | {f['exact_p50_ms']:.1f} ms | | |",
        f"| Hybrid search p50 / p95 (vector + full text, RRF) | {u['hybrid_p50_ms']:.2f} / {u['hybrid_p95_ms']:.2f} ms"
        f" | {f['hybrid_p50_ms']:.2f} / {f['hybrid_p95_ms']:.2f} ms | | |",
        "",
        f"Load: {figures['items']:,} rows by binary COPY in {figures['load_seconds']} s; indexes built after the "
        f"load: {builds}.",
        f"Embedding (MiniLM, NumPy): {e['texts_per_second']:,.0f} texts/s in batches ({e['ms_per_text']} ms a text, "
        f"{e['texts']} texts of ~25 words); storing through the service (embed + upsert, 32 at a time): "
        f"{e['store_items_per_second']:,.0f} items/s.",
        "",
    ]


def main() -> int:
    """On its own: fresh embedded PostgreSQL and Valkey under .emma/bench-memory, migrated, then run."""
    from devstack import embedded

    data_dir = Path(os.environ.get("BENCH_MEMORY_DATA_DIR", BASE_DIR / ".emma" / "bench-memory")).resolve()
    services = None
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        running = embedded.find(data_dir, database=True, redis=True)
        if running.database_url or running.redis_url:
            raise SystemExit(f"bench | memory: embedded services already run in {data_dir}; is another bench running?")
        shutil.rmtree(data_dir, ignore_errors=True)
        say(f"starting embedded PostgreSQL and Valkey in {data_dir}")
        services = embedded.ensure(data_dir, database=not os.environ.get("DATABASE_URL"),
                                   redis=not os.environ.get("REDIS_URL"))
        os.environ.setdefault("DATABASE_URL", services.database_url or "")
        os.environ.setdefault("REDIS_URL", services.redis_url or "")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["EMMA_DATA_DIR"] = str(data_dir)
    try:
        import django
        from django.core.management import call_command

        django.setup()
        say("applying migrations")
        call_command("migrate", "--noinput", verbosity=0)
        report: dict = {}
        run(report)
        from bench.__main__ import machine_facts

        keep_large_run(report["memory"], machine_facts(dict(os.environ), services.started if services else []))
        print("\n".join(markdown(report)))
        print(json.dumps(report["memory"], indent=2))
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if services is not None:
            say("stopping the embedded services")
            services.stop()


if __name__ == "__main__":
    sys.exit(main())
