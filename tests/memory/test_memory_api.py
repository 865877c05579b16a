"""The memory HTTP API: store, search, get, delete, client embeddings, bulk through a real worker."""

import uuid

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.django_db

# Thirty notes on unrelated topics; the research tests use them too.
NOTES = [
    "The office Wi-Fi password is rotated on the first Monday of every month; ask IT on Slack for the new one.",
    "Our production database backups run nightly at 02:00 UTC and are kept for thirty days in cold storage.",
    "Maria from finance approves all vendor invoices above five thousand euros.",
    "The quarterly all-hands meeting takes place in the large auditorium on the third floor.",
    "Customers on the enterprise plan get a dedicated support engineer and a four-hour response time.",
    "The coffee machine in the kitchen is descaled every Friday afternoon by the facilities team.",
    "Deployments to production are frozen from December 20th until January 3rd.",
    "New employees receive their laptop and badge on their first day from the front desk.",
    "The marketing team uses Figma for design work and Notion for planning campaigns.",
    "Parking spots in the underground garage are assigned by seniority and renewed each year.",
    "Expense reports must be submitted within thirty days with scanned receipts attached.",
    "The on-call engineer is paged through PagerDuty when the error rate exceeds two percent.",
    "Our main competitor lowered their prices by fifteen percent last quarter.",
    "The company retreat this year will be held in a mountain lodge in the Swiss Alps.",
    "Passwords for internal tools must be at least sixteen characters and changed yearly.",
    "The API rate limit for free-tier customers is one hundred requests per minute.",
    "Sarah leads the data science team and reports directly to the CTO.",
    "Office plants are watered on Tuesdays and Thursdays by a contracted gardener.",
    "The legal team must review every contract that includes a data processing agreement.",
    "Our mobile app supports iOS 16 and later, and Android 12 and later.",
    "The cafeteria serves a vegetarian lunch option every weekday at noon.",
    "Security incidents must be reported to the CISO within one hour of discovery.",
    "The London office closes early at three o'clock on Fridays during summer.",
    "Annual performance reviews happen in March and include a peer feedback round.",
    "The staging environment is rebuilt from scratch every Sunday night.",
    "Bicycle storage is available in the courtyard behind the main building.",
    "The company matches employee charity donations up to five hundred dollars a year.",
    "Our payment provider charges a fee of 1.4 percent plus twenty cents per card transaction.",
    "The printer on the second floor jams often; use the one near the elevators instead.",
    "Interns are paired with a mentor for the full duration of their internship.",
]

# A question in other words, and the note that answers it.
PARAPHRASES = [
    ("When do we stop shipping code to prod over the holidays?", 6),
    ("Who signs off on large supplier bills?", 2),
    ("How long are copies of the production data retained?", 1),
    ("Where can I leave my bike at work?", 25),
    ("How is the duty engineer notified if errors go up?", 11),
]


def store(client, content, expect=201, **body):
    response = client.post("/api/memory/store", {"content": content, **body}, format="json")
    assert response.status_code == expect, response.content
    return response.json()["id"]


def search(client, **params):
    response = client.get("/api/memory/search", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def acme_notes(acme):
    return [store(acme.submitter_api, note, source="handbook") for note in NOTES]


def test_a_paraphrase_finds_the_note_that_answers_it_first(acme, acme_notes):
    for question, answer in PARAPHRASES:
        results = search(acme.submitter_api, query=question, limit=5)
        assert results[0]["id"] == acme_notes[answer], (question, [r["content"][:50] for r in results])
        assert results[0]["vector_score"] > 0.4


def test_each_result_carries_its_scores(acme, acme_notes):
    results = search(acme.submitter_api, query="PagerDuty error rate", limit=3)
    top = results[0]
    assert top["id"] == acme_notes[11]
    assert top["vector_rank"] == 1 and top["text_rank"] == 1  # both legs agree
    assert top["score"] == pytest.approx(2 / 61)
    assert 0 < top["vector_score"] <= 1 and top["text_score"] > 0
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert set(top) >= {"id", "content", "source", "metadata", "created_at", "score", "vector_score", "text_score"}


def test_limit_is_honoured_and_bounded(acme, acme_notes):
    assert len(search(acme.submitter_api, query="office", limit=7)) == 7
    assert len(search(acme.submitter_api, query="office")) == 10  # the default
    for bad in (0, 51, "many"):
        assert acme.submitter_api.get("/api/memory/search", {"query": "office", "limit": bad}).status_code == 400
    assert acme.submitter_api.get("/api/memory/search").status_code == 400  # query is required
    response = acme.submitter_api.get("/api/memory/search", {"query": "x", "colour": "red"})
    assert response.status_code == 400 and "colour" in response.json()["error"]["details"]


def test_a_second_tenant_sees_none_of_it(acme, globex, acme_notes):
    assert search(globex.submitter_api, query=PARAPHRASES[0][0]) == []
    assert globex.submitter_api.get(f"/api/memory/{acme_notes[0]}").status_code == 404
    assert globex.submitter_api.delete(f"/api/memory/{acme_notes[0]}").status_code == 404
    # The same content in another tenant is another item; neither sees the other's.
    other = store(globex.submitter_api, NOTES[0])
    assert other != acme_notes[0]
    assert [r["id"] for r in search(globex.submitter_api, query="wifi password")] == [other]
    assert acme.submitter_api.get(f"/api/memory/{acme_notes[0]}").status_code == 200


def test_get_and_delete_an_item(acme):
    item_id = store(acme.submitter_api, "The fire drill is on Thursday.", source="facilities", metadata={"floor": 2})
    body = acme.submitter_api.get(f"/api/memory/{item_id}").json()
    assert body["content"] == "The fire drill is on Thursday."
    assert body["source"] == "facilities" and body["metadata"] == {"floor": 2}
    assert len(body["content_hash"]) == 64 and "embedding" not in body
    assert acme.submitter_api.delete(f"/api/memory/{item_id}").status_code == 204
    assert acme.submitter_api.get(f"/api/memory/{item_id}").status_code == 404
    assert acme.submitter_api.delete(f"/api/memory/{item_id}").status_code == 404
    assert acme.submitter_api.get(f"/api/memory/{uuid.uuid4()}").status_code == 404
    assert acme.submitter_api.get("/api/memory/not-a-uuid").status_code == 404


def test_storing_the_same_content_again_returns_the_same_item_with_merged_metadata(acme):
    first = acme.submitter_api.post("/api/memory/store", {"content": "Lunch is at noon.", "metadata": {"a": 1, "b": 1}},
                                    format="json")
    again = acme.submitter_api.post("/api/memory/store", {"content": "Lunch is at noon.", "metadata": {"b": 2, "c": 3}},
                                    format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"id": first.json()["id"], "created": True}
    assert again.json() == {"id": first.json()["id"], "created": False}
    item = acme.submitter_api.get(f"/api/memory/{first.json()['id']}").json()
    assert item["metadata"] == {"a": 1, "b": 2, "c": 3}


@pytest.mark.parametrize("body, field", [
    ({}, "content"),
    ({"content": ""}, "content"),
    ({"content": "x" * 20_001}, "content"),
    ({"content": "x", "source": "s" * 65}, "source"),
    ({"content": "x", "metadata": [1, 2]}, "metadata"),
    ({"content": "x", "metadata": "text"}, "metadata"),
    ({"content": "x", "colour": "red"}, "colour"),
])
def test_invalid_store_requests_are_400_naming_the_field(acme, body, field):
    response = acme.submitter_api.post("/api/memory/store", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_memory_needs_a_login(api_client):
    assert api_client.post("/api/memory/store", {"content": "x"}, format="json").status_code == 401
    assert api_client.get("/api/memory/search", {"query": "x"}).status_code == 401


# --- client-computed embeddings -----------------------------------------------------------------


def unit(n=384, hot=0):
    vector = [0.0] * n
    vector[hot % n] = 1.0
    return vector


def post_raw(client, body: str):
    return client.generic("POST", "/api/memory/embeddings", body, content_type="application/json")


def test_a_client_computed_embedding_is_stored_and_searchable(acme):
    response = acme.submitter_api.post("/api/memory/embeddings", {"content": "Vector from elsewhere",
                                                                  "embedding": unit(hot=7), "source": "client"},
                                       format="json")
    assert response.status_code == 201, response.content
    assert acme.submitter_api.get(f"/api/memory/{response.json()['id']}").json()["source"] == "client"


@pytest.mark.parametrize("embedding", [
    unit(383),
    unit(385),
    [],
    "not a list",
    {"0": 1.0},
    [*unit(383), "1.0"],
    [*unit(383), None],
    [*unit(383), True],
    [*unit(383), 1e300],  # finite, but not as a float32
    [0.0] * 384,
])
def test_a_wrong_embedding_is_400_naming_the_expected_dimension(acme, embedding):
    response = acme.submitter_api.post("/api/memory/embeddings", {"content": "x", "embedding": embedding},
                                       format="json")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["error"]["details"]["embedding"])
    assert "384" in message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_values_are_400_naming_the_expected_dimension(acme, literal):
    body = '{"content": "x", "embedding": [' + ", ".join(["0.5"] * 383 + [literal]) + "]}"  # 384 values, one bad
    response = post_raw(acme.submitter_api, body)
    assert response.status_code == 400, response.content
    assert "384" in " ".join(response.json()["error"]["details"]["embedding"])


def test_the_embedding_is_required_on_the_embeddings_endpoint(acme):
    response = acme.submitter_api.post("/api/memory/embeddings", {"content": "x"}, format="json")
    assert response.status_code == 400
    assert "embedding" in response.json()["error"]["details"]


# --- bulk store through the real worker ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_bulk_store_runs_on_a_worker_and_reports_its_progress(acme, globex, celery_worker_process):
    items = [{"content": note, "source": "bulk", "metadata": {"n": n}} for n, note in enumerate(NOTES)]
    items.append({"content": NOTES[0], "source": "bulk", "metadata": {"duplicate": True}})
    response = acme.submitter_api.post("/api/memory/bulk", {"items": items}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["total"] == 31 and job["status"] in ("queued", "running", "succeeded")
    assert job["status_url"].endswith(f"/api/memory/bulk/{job['job_id']}")

    seen_done = set()

    def finished():
        body = acme.submitter_api.get(f"/api/memory/bulk/{job['job_id']}").json()
        seen_done.add(body["done"])
        return body if body["status"] in ("succeeded", "failed") else None

    body = wait_for(finished, timeout=120, interval=0.05, message="the bulk job to finish")
    assert body["status"] == "succeeded", (body, celery_worker_process.logs()[-3000:])
    assert body["done"] == body["total"] == 31
    assert len(body["item_ids"]) == 31 and body["item_ids"][30] == body["item_ids"][0]  # deduplicated
    assert max(seen_done) == 31
    item = acme.submitter_api.get(f"/api/memory/{body['item_ids'][0]}").json()
    assert item["metadata"] == {"n": 0, "duplicate": True}
    assert search(acme.submitter_api, query=PARAPHRASES[3][0], limit=1)[0]["id"] == body["item_ids"][25]
    assert globex.submitter_api.get(f"/api/memory/bulk/{job['job_id']}").status_code == 404


def test_bulk_requests_are_validated_before_anything_is_queued(acme):
    assert acme.submitter_api.post("/api/memory/bulk", {"items": []}, format="json").status_code == 400
    response = acme.submitter_api.post("/api/memory/bulk", {"items": [{"content": "ok"}, {"content": ""}]},
                                       format="json")
    assert response.status_code == 400
    assert "items" in response.json()["error"]["details"]
    too_many = {"items": [{"content": f"note {n}"} for n in range(1001)]}
    assert acme.submitter_api.post("/api/memory/bulk", too_many, format="json").status_code == 400


def test_the_bulk_service_names_each_bad_item_for_any_caller(acme):
    """The API validates first; a caller of the service (a task, a script) gets the same answer."""
    from core.errors import Invalid
    from memory.services import memory_bulk_start

    with pytest.raises(Invalid) as refused:
        memory_bulk_start(tenant_id=acme.tenant_id, items=[{"content": "ok"}, {"content": " "}])
    assert refused.value.details == {"items": {"1": {"content": ["Required, not blank."]}}}


# --- admin --------------------------------------------------------------------------------------


def test_the_admin_shows_memory_read_only_and_within_the_tenant(acme, globex, client, make_user):
    from memory.services import episode_record

    item_id = store(acme.submitter_api, "Visible in the admin.")
    store(globex.submitter_api, "Globex's own note.")
    episode_record(tenant_id=acme.tenant_id, kind="inbound_message", source="slack", content="hello")
    admin = make_user(username="acme-staff", tenant="acme", role="admin")
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    listing = client.get("/admin/memory/memoryitem/")
    assert listing.status_code == 200
    assert "Visible in the admin." in listing.content.decode()
    assert "Globex" not in listing.content.decode()
    detail = client.get(f"/admin/memory/memoryitem/{item_id}/change/")
    assert detail.status_code == 200 and "Visible in the admin." in detail.content.decode()
    assert client.get("/admin/memory/episodicevent/").status_code == 200
    assert client.get("/admin/memory/memorybulkjob/").status_code == 200
    assert client.get("/admin/memory/memoryitem/add/").status_code == 403
