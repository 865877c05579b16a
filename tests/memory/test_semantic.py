"""Semantic memory: reference vectors, dedup, expiry, filters, isolation, the embedding backends."""

import hashlib
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from memory import selectors, services
from memory.checks import embedding_backend_check
from memory.embedders import get_embedder
from memory.models import MemoryItem
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text())


def random_unit(rng, n=384):
    vector = rng.standard_normal(n)
    return (vector / np.linalg.norm(vector)).tolist()


def stored_vector(item_id) -> np.ndarray:
    return np.asarray(MemoryItem.objects.values_list("embedding", flat=True).get(pk=item_id), dtype=np.float64)


# --- what is stored -----------------------------------------------------------------------------


def test_stored_vectors_are_the_reference_embeddings(acme):
    for reference in REFERENCE["items"][:12]:
        if not reference["text"].strip():
            continue
        stored = services.memory_store(tenant_id=acme.tenant_id, content=reference["text"])
        expected = np.asarray(reference["embedding"], dtype=np.float64)
        cosine = stored_vector(stored.id) @ expected / np.linalg.norm(expected)
        assert cosine > 0.999, reference["text"][:60]


def test_the_same_content_is_one_item_and_metadata_is_merged_never_replaced(acme):
    first = services.memory_store(tenant_id=acme.tenant_id, content="The wiki moved to Confluence.",
                                  source="it", metadata={"team": "it", "year": 2023})
    again = services.memory_store(tenant_id=acme.tenant_id, content="The wiki moved to Confluence.",
                                  source="chat", metadata={"year": 2024, "channel": "#general"})
    assert (first.created, again.created) == (True, False)
    assert again.id == first.id
    item = MemoryItem.objects.get(pk=first.id)
    assert item.metadata == {"team": "it", "year": 2024, "channel": "#general"}
    assert item.source == "it"  # the first source stays
    assert MemoryItem.objects.for_tenant(acme.tenant_id).count() == 1


def test_storing_again_keeps_the_longer_life(acme):
    soon = timezone.now() + timedelta(hours=1)
    later = timezone.now() + timedelta(days=1)
    stored = services.memory_store(tenant_id=acme.tenant_id, content="Temporary note", expires_at=soon)
    services.memory_store(tenant_id=acme.tenant_id, content="Temporary note", expires_at=later)
    assert MemoryItem.objects.get(pk=stored.id).expires_at == later
    services.memory_store(tenant_id=acme.tenant_id, content="Temporary note", expires_at=soon)
    assert MemoryItem.objects.get(pk=stored.id).expires_at == later
    services.memory_store(tenant_id=acme.tenant_id, content="Temporary note")  # no expiry: kept for good
    assert MemoryItem.objects.get(pk=stored.id).expires_at is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_stores_of_one_content_make_one_item(acme):
    results = run_concurrently(
        lambda n: services.memory_store(tenant_id=acme.tenant_id, content="Raced note", metadata={f"k{n}": n}),
        list(range(6)))
    assert len({r.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert MemoryItem.objects.get().metadata == {f"k{n}": n for n in range(6)}


# --- expiry -------------------------------------------------------------------------------------


def test_an_expired_item_is_hidden_at_once_and_pruned_later(acme):
    lasting = services.memory_store(tenant_id=acme.tenant_id, content="The office opens at eight in the morning.")
    fleeting = services.memory_store(tenant_id=acme.tenant_id, content="The office opens at nine today only.",
                                     expires_at=timezone.now() + timedelta(seconds=1.5))
    hits = selectors.memory_search(tenant_id=acme.tenant_id, query="when does the office open")
    assert {h.id for h in hits} == {lasting.id, fleeting.id}
    time.sleep(1.6)
    hits = selectors.memory_search(tenant_id=acme.tenant_id, query="when does the office open")
    assert [h.id for h in hits] == [lasting.id]
    assert acme.submitter_api.get(f"/api/memory/{fleeting.id}").status_code == 404
    assert acme.submitter_api.delete(f"/api/memory/{fleeting.id}").status_code == 404
    assert selectors.memory_item_count(tenant_id=acme.tenant_id) == 1
    assert MemoryItem.objects.filter(pk=fleeting.id).exists()  # hidden, not yet deleted
    assert services.memory_prune_expired() == 1
    assert not MemoryItem.objects.filter(pk=fleeting.id).exists()
    assert MemoryItem.objects.filter(pk=lasting.id).exists()


def test_an_expired_item_stored_again_comes_back_as_new(acme):
    old = services.memory_store(tenant_id=acme.tenant_id, content="Door code is 4711", metadata={"stale": True},
                                expires_at=timezone.now() - timedelta(hours=1))
    assert selectors.memory_search(tenant_id=acme.tenant_id, query="door code") == []
    revived = services.memory_store(tenant_id=acme.tenant_id, content="Door code is 4711", metadata={"fresh": True})
    assert revived.id == old.id and revived.created
    item = MemoryItem.objects.get(pk=old.id)
    assert item.metadata == {"fresh": True} and item.expires_at is None
    assert [h.id for h in selectors.memory_search(tenant_id=acme.tenant_id, query="door code")] == [old.id]


def test_an_item_can_expire_through_the_api(acme):
    response = acme.submitter_api.post("/api/memory/store", {
        "content": "Flash sale ends tonight", "expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()},
        format="json")
    assert response.status_code == 201
    assert acme.submitter_api.get(f"/api/memory/{response.json()['id']}").status_code == 404


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def filed(acme):
    def put(content, source, **metadata):
        return services.memory_store(tenant_id=acme.tenant_id, content=content, source=source, metadata=metadata).id

    return {
        "invoice_eu": put("Invoices from EU suppliers are paid within 30 days.", "finance", region="eu", kind="policy"),
        "invoice_us": put("Invoices from US suppliers are paid within 45 days.", "finance", region="us", kind="policy"),
        "invoice_chat": put("Someone asked how fast invoices get paid.", "slack", region="eu", kind="chat"),
        "holiday": put("The office is closed on public holidays.", "hr", region="eu", kind="policy"),
    }


def ids(client, **params):
    response = client.get("/api/memory/search", params)
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_search_filters_on_source(acme, filed):
    found = ids(acme.submitter_api, query="how quickly are invoices paid", source="finance")
    assert set(found) == {filed["invoice_eu"], filed["invoice_us"]}
    assert ids(acme.submitter_api, query="how quickly are invoices paid", source="nowhere") == []


def test_search_filters_on_metadata_by_containment_or_by_key(acme, filed):
    query = "how quickly are invoices paid"
    by_json = ids(acme.submitter_api, query=query, metadata=json.dumps({"region": "eu", "kind": "policy"}))
    assert set(by_json) == {filed["invoice_eu"], filed["holiday"]}
    by_key = ids(acme.submitter_api, query=query, metadata__region="eu", metadata__kind="policy")
    assert set(by_key) == set(by_json)
    assert set(ids(acme.submitter_api, query=query, source="slack", metadata__region="eu")) == {filed["invoice_chat"]}
    # What jsonb cannot hold (NUL, an unpaired surrogate, a number past a double) is a 400, not a 500.
    for bad in ("[1]", "not json", '{"region": "e\\u0000u"}', '{"region": "\\ud800"}', '{"region": 1e400}'):
        assert acme.submitter_api.get("/api/memory/search", {"query": query, "metadata": bad}).status_code == 400
    response = acme.submitter_api.get("/api/memory/search", {"query": query, "metadata__region": "e\x00u"})
    assert response.status_code == 400 and "metadata" in response.json()["error"]["details"]


def test_search_filters_on_time(acme, filed):
    time.sleep(0.05)
    cut = timezone.now()
    time.sleep(0.05)
    late = services.memory_store(tenant_id=acme.tenant_id, content="Invoices under 100 euros are paid at once.",
                                 source="finance").id
    query = "how quickly are invoices paid"
    assert ids(acme.submitter_api, query=query, since=cut.isoformat()) == [late]
    assert late not in ids(acme.submitter_api, query=query, until=cut.isoformat())
    assert len(ids(acme.submitter_api, query=query, until=cut.isoformat())) == 4
    assert acme.submitter_api.get("/api/memory/search", {"query": query, "since": "yesterday"}).status_code == 400


def test_a_filtered_search_through_the_hnsw_index_still_fills_its_limit(acme):
    """One item in ten matches the filter. A plain HNSW scan (ef_search 40) would bring about four of them;
    the iterative scan keeps going until the limit is filled."""
    rng = np.random.default_rng(7)
    for n in range(400):
        services.memory_store(tenant_id=acme.tenant_id, content=f"generated item {n}", embedding=random_unit(rng),
                              source="rare" if n % 10 == 0 else "common")
    query = random_unit(rng)
    with transaction.atomic(), connection.cursor() as cursor:
        # This little table would be read sequentially; make PostgreSQL use the HNSW index as it does at scale.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off; "
                       "SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN SELECT id FROM memory_item WHERE tenant_id = %s AND source = 'rare' "
                       "ORDER BY embedding <=> %s::vector LIMIT 40", [acme.tenant_id, selectors.vector_literal(query)])
        assert "memoryitem_embedding_hnsw" in " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL hnsw.iterative_scan = off; SET LOCAL hnsw.ef_search = 40")
        cursor.execute("SELECT count(*) FROM (SELECT id FROM memory_item WHERE tenant_id = %s AND source = 'rare' "
                       "ORDER BY embedding <=> %s::vector LIMIT 40) AS hits",
                       [acme.tenant_id, selectors.vector_literal(query)])
        assert cursor.fetchone()[0] < 20  # what the index alone finds
        hits = selectors.memory_search(tenant_id=acme.tenant_id, query="generated item", query_embedding=query,
                                       limit=20, source="rare")
        nearest = selectors.memory_vector_search(tenant_id=acme.tenant_id, embedding=query, limit=20, source="rare")
        cursor.execute("SET LOCAL enable_seqscan = on; SET LOCAL enable_sort = on; SET LOCAL enable_bitmapscan = on")
    assert len(hits) == 20 and {h.source for h in hits} == {"rare"}
    assert len(nearest) == 20
    exact = selectors.memory_vector_search(tenant_id=acme.tenant_id, embedding=query, limit=20, source="rare",
                                           exact=True)
    assert len({i for i, _ in nearest} & {i for i, _ in exact}) >= 18


def test_search_is_scoped_to_the_tenant_whatever_the_filters(acme, globex, filed):
    services.memory_store(tenant_id=globex.tenant_id, content="Invoices from EU suppliers are paid within 30 days.",
                          source="finance", metadata={"region": "eu", "kind": "policy"})
    globex_ids = {str(i) for i in MemoryItem.objects.for_tenant(globex.tenant_id).values_list("pk", flat=True)}
    found = ids(acme.submitter_api, query="invoices paid", source="finance", metadata__region="eu", limit=50)
    assert found == [filed["invoice_eu"]]
    assert not set(found) & globex_ids
    assert set(ids(globex.submitter_api, query="invoices paid")) == globex_ids


# --- metrics ------------------------------------------------------------------------------------


def test_item_gauge_and_durations_are_exported(acme, globex, client):
    before = REGISTRY.get_sample_value("emma_memory_store_duration_seconds_count", {"operation": "store"}) or 0
    for n in range(3):
        services.memory_store(tenant_id=acme.tenant_id, content=f"metric note {n}")
    services.memory_store(tenant_id=acme.tenant_id, content="gone", expires_at=timezone.now() - timedelta(hours=1))
    services.memory_store(tenant_id=globex.tenant_id, content="globex note")
    selectors.memory_search(tenant_id=acme.tenant_id, query="note")
    text = client.get("/metrics").content.decode()
    assert 'emma_memory_items{tenant="acme"} 3.0' in text
    assert 'emma_memory_items{tenant="globex"} 1.0' in text
    assert REGISTRY.get_sample_value("emma_memory_store_duration_seconds_count", {"operation": "store"}) == before + 5
    assert REGISTRY.get_sample_value("emma_memory_query_duration_seconds_count", {"operation": "search"}) >= 1


# --- embedding backends -------------------------------------------------------------------------


class FakeEmbeddingsHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings endpoint: a fixed pseudo-random vector per text."""

    requests: list = []
    dimensions = 384

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.path != "/v1/embeddings":
            self.send_response(404)
            self.end_headers()
            return
        data = []
        for index, text in enumerate(body["input"]):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            vector = np.random.default_rng(seed).standard_normal(self.dimensions) * 3  # not normalised
            data.append({"object": "embedding", "index": index, "embedding": vector.tolist()})
        payload = json.dumps({"object": "list", "data": data[::-1], "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def embeddings_server():
    FakeEmbeddingsHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEmbeddingsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", FakeEmbeddingsHandler.requests
    server.shutdown()
    server.server_close()


def test_the_openai_backend_embeds_through_the_endpoint(acme, settings, embeddings_server):
    url, requests = embeddings_server
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_API_URL = url  # no path: /v1 is added
    settings.EMBEDDING_API_KEY = "sk-test"
    settings.EMBEDDING_MODEL = "text-embedding-3-small"
    assert embedding_backend_check() == []
    stored = services.memory_store(tenant_id=acme.tenant_id, content="Remote embeddings work")
    services.memory_store(tenant_id=acme.tenant_id, content="Something else entirely")
    assert np.linalg.norm(stored_vector(stored.id)) == pytest.approx(1.0, abs=1e-5)
    hits = selectors.memory_search(tenant_id=acme.tenant_id, query="Remote embeddings work")
    assert hits[0].id == stored.id and hits[0].vector_score == pytest.approx(1.0, abs=1e-5)
    assert requests[0]["path"] == "/v1/embeddings"
    assert requests[0]["auth"] == "Bearer sk-test"
    assert requests[0]["body"] == {"model": "text-embedding-3-small", "input": ["Remote embeddings work"],
                                   "dimensions": 384}
    many = get_embedder().embed(["a", "b", "c"])  # answered out of order, put back in order
    assert np.allclose(many[1], get_embedder().embed_one("b"))


def test_the_openai_backend_falls_back_to_the_llm_settings(settings, embeddings_server):
    url, requests = embeddings_server
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_API_URL = ""
    settings.LLM_BASE_URL = url + "/v1"  # with a path: used as given
    settings.LLM_API_KEY = "sk-llm"
    get_embedder().embed_one("hello")
    assert requests[0]["path"] == "/v1/embeddings" and requests[0]["auth"] == "Bearer sk-llm"


def test_an_endpoint_answering_another_width_is_an_error_not_a_stored_vector(acme, settings, embeddings_server,
                                                                             monkeypatch):
    from memory.embedders import EmbeddingBackendError

    url, _ = embeddings_server
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_API_URL = url
    monkeypatch.setattr(FakeEmbeddingsHandler, "dimensions", 1536)
    with pytest.raises(EmbeddingBackendError, match="384"):
        services.memory_store(tenant_id=acme.tenant_id, content="too wide")
    assert not MemoryItem.objects.exists()


def test_a_backend_of_another_dimension_is_an_error_at_start(settings):
    assert embedding_backend_check() == []  # MiniLM, 384: fits the column
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_API_URL = "http://127.0.0.1:9"
    settings.EMBEDDING_DIMENSIONS = 1536
    errors = embedding_backend_check()
    assert [e.id for e in errors] == ["memory.E002"] and isinstance(errors[0], Error)
    assert "1536" in errors[0].msg and "384" in errors[0].msg
    with pytest.raises(SystemCheckError, match="memory.E002"):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match="384"):
        get_embedder()


def test_an_unknown_backend_or_a_missing_endpoint_is_an_error_at_start(settings):
    settings.EMBEDDING_BACKEND = "word2vec"
    assert [e.id for e in embedding_backend_check()] == ["memory.E001"]
    settings.EMBEDDING_BACKEND = "openai"
    settings.EMBEDDING_API_URL = ""
    settings.LLM_BASE_URL = ""
    assert [e.id for e in embedding_backend_check()] == ["memory.E003"]
