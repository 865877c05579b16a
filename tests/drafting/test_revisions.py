"""Saves: If-Match, three-way merges of stale saves, conflicts, coalescing and checkpoints, diffs, restores,
the size limit and concurrent saves."""

from datetime import timedelta

import pytest
from django.utils import timezone

from drafting.models import Revision
from tests.conftest import run_concurrently
from tests.drafting.conftest import create, save, share

pytestmark = pytest.mark.django_db

BASE = "Intro line\n\nMiddle line\n\nClosing line\n"


def test_a_save_needs_if_match(acme, draft):
    response = save(acme.submitter_api, draft["id"], "new", None)
    assert response.status_code == 428 and response.json()["error"]["code"] == "precondition_required"
    assert save(acme.submitter_api, draft["id"], "new", "yesterday").status_code == 400


def test_a_save_on_the_current_revision_makes_the_next_one(acme, draft):
    response = save(acme.submitter_api, draft["id"], BASE + "More\n", '"1.1"')
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["revision"]["number"] == 2 and body["etag"] == '"2.1"' == response["ETag"]
    assert body["merged"] is False and body["coalesced"] is False
    assert Revision.objects.get(draft_id=draft["id"], number=2).author == acme.submitter


def test_a_stale_save_touching_another_part_is_merged(acme, draft):
    share(acme, draft["id"], approver="editor")
    theirs = save(acme.submitter_api, draft["id"], BASE.replace("Intro line", "Intro, edited"), 1)
    assert theirs.status_code == 201
    mine = save(acme.approver_api, draft["id"], BASE.replace("Closing line", "Closing, edited"), 1)
    assert mine.status_code == 201, mine.content
    body = mine.json()
    assert body["merged"] is True and body["base_revision"] == 1 and body["their_revision"] == 2
    assert body["revision"]["number"] == 3 and body["revision"]["kind"] == "merge"
    assert body["content"] == "Intro, edited\n\nMiddle line\n\nClosing, edited\n"
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()["content"] == body["content"]


def test_a_stale_save_touching_the_same_part_is_a_409_with_the_current_revision(acme, draft):
    share(acme, draft["id"], approver="editor")
    save(acme.submitter_api, draft["id"], BASE.replace("Middle line", "Middle, theirs"), '"1.1"')
    response = save(acme.approver_api, draft["id"], BASE.replace("Middle line", "Middle, mine"), '"1.1"')
    assert response.status_code == 409
    details = response.json()["error"]["details"]
    assert details["current_revision"] == 2 and details["etag"] == '"2.1"'
    assert "Middle, theirs" in details["content"] and details["author"] == acme.submitter.username
    assert Revision.objects.filter(draft_id=draft["id"]).count() == 2


def test_quick_saves_by_one_author_coalesce_and_a_checkpoint_does_not(acme, draft):
    first = save(acme.submitter_api, draft["id"], BASE + "a\n", '"1.1"').json()
    second = save(acme.submitter_api, draft["id"], BASE + "ab\n", first["etag"])
    assert second.status_code == 200 and second.json()["coalesced"] is True
    assert second.json()["revision"]["number"] == 2 and second.json()["etag"] == '"2.2"'
    checkpoint = save(acme.submitter_api, draft["id"], BASE + "abc\n", second.json()["etag"], checkpoint=True)
    assert checkpoint.status_code == 201 and checkpoint.json()["revision"]["number"] == 3
    after = save(acme.submitter_api, draft["id"], BASE + "abcd\n", checkpoint.json()["etag"])
    assert after.status_code == 201 and after.json()["revision"]["number"] == 4  # nothing joins a checkpoint
    # Past the coalescing window: a revision of its own.
    Revision.objects.filter(draft_id=draft["id"], number=4).update(saved_at=timezone.now() - timedelta(seconds=31))
    late = save(acme.submitter_api, draft["id"], BASE + "abcde\n", after.json()["etag"])
    assert late.status_code == 201 and late.json()["revision"]["number"] == 5


def test_coalescing_never_swallows_another_authors_revision_or_a_merge(acme, draft):
    share(acme, draft["id"], approver="editor")
    mine = save(acme.submitter_api, draft["id"], BASE + "mine\n", '"1.1"').json()
    theirs = save(acme.approver_api, draft["id"], BASE + "mine\ntheirs\n", mine["etag"])
    assert theirs.status_code == 201 and theirs.json()["revision"]["number"] == 3
    # A stale save is merged into a revision of its own, which later saves do not join.
    merged = save(acme.approver_api, draft["id"], BASE.replace("Intro line", "Intro!") + "mine\n", mine["etag"])
    assert merged.json()["merged"] is True and merged.json()["revision"]["number"] == 4
    next_save = save(acme.approver_api, draft["id"], merged.json()["content"] + "more\n", merged.json()["etag"])
    assert next_save.status_code == 201 and next_save.json()["revision"]["number"] == 5


def test_a_save_based_on_a_coalesced_state_another_author_did_not_see_is_refused(acme, draft):
    """The other editor read 2.1; the author then saved 2.2 in place: 2.1 is gone, no merge base is known."""
    share(acme, draft["id"], approver="editor")
    seen = save(acme.submitter_api, draft["id"], BASE + "a\n", '"1.1"').json()["etag"]
    save(acme.submitter_api, draft["id"], BASE + "ab\n", seen)
    response = save(acme.approver_api, draft["id"], BASE + "a\nmine\n", seen)
    assert response.status_code == 409 and response.json()["error"]["details"]["etag"] == '"2.2"'


def test_revisions_list_detail_diff_and_restore(acme, draft):
    save(acme.submitter_api, draft["id"], BASE.replace("Middle line", "Middle, changed"), 1, checkpoint=True)
    listed = acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions").json()
    assert [row["number"] for row in listed["results"]] == [2, 1] and listed["results"][0]["author"]
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions/1").json()["content"] == BASE
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions/9").status_code == 404
    diff = acme.submitter_api.get(f"/api/drafts/{draft['id']}/diff", {"from": 1, "to": 2}).json()
    assert "-Middle line\n" in diff["diff"] and "+Middle, changed\n" in diff["diff"]
    assert diff["diff"].startswith("--- revision 1\n+++ revision 2\n")
    restored = acme.submitter_api.post(f"/api/drafts/{draft['id']}/revisions/1/restore")
    assert restored.status_code == 201 and restored.json()["revision"]["number"] == 3
    assert restored.json()["revision"]["kind"] == "restore"
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()["content"] == BASE


def test_content_over_the_limit_is_a_json_413_and_nothing_is_stored(acme, draft, settings):
    assert settings.DRAFT_MAX_CONTENT_BYTES == 10 * 1024 * 1024
    over = "x" * (settings.DRAFT_MAX_CONTENT_BYTES + 1)
    response = save(acme.submitter_api, draft["id"], over, '"1.1"')
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == {"code": "payload_too_large", "message": response.json()["error"]["message"],
                                        "details": {"max_bytes": settings.DRAFT_MAX_CONTENT_BYTES}}
    assert Revision.objects.filter(draft_id=draft["id"]).count() == 1
    exactly = save(acme.submitter_api, draft["id"], "x" * settings.DRAFT_MAX_CONTENT_BYTES, '"1.1"')
    assert exactly.status_code == 201  # 10 MB fits: the body limit of a save is larger than MAX_PAYLOAD_BYTES
    created = acme.submitter_api.post("/api/drafts", {"title": "big", "content": over}, format="json")
    assert created.status_code == 413


def test_a_body_over_the_drafts_body_limit_is_refused_before_it_is_read(acme, draft, settings):
    settings.DRAFT_MAX_CONTENT_BYTES = 1000
    settings.MAX_PAYLOAD_BYTES = 1500
    response = save(acme.submitter_api, draft["id"], "y" * 3000, '"1.1"')
    assert response.status_code == 413 and response.json()["error"]["details"] == {"max_bytes": 2000}


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_on_one_revision_never_lose_an_edit(make_user, client_for):
    owner = make_user(username="writer", tenant="acme")
    original = "".join(f"line {n}\n\n" for n in range(6))  # edits of different lines, an unchanged one between
    draft = create(client_for(owner), content=original)
    editors = [make_user(username=f"editor{n}", tenant="acme") for n in range(6)]
    client_for(owner).put(f"/api/drafts/{draft['id']}/collaborators", {"collaborators": [
        {"username": e.username, "role": "editor"} for e in editors]}, format="json")

    def edit(index):
        lines = [f"line {n}\n\n" for n in range(6)]
        lines[index] = f"line {index} edited by editor{index}\n\n"
        return save(client_for(editors[index]), draft["id"], "".join(lines), '"1.1"').status_code

    statuses = run_concurrently(edit, list(range(6)))
    assert statuses.count(201) == 6, statuses  # disjoint edits: one first, the others merged
    content = client_for(owner).get(f"/api/drafts/{draft['id']}").json()["content"]
    assert all(f"edited by editor{n}" in content for n in range(6)), content
    numbers = sorted(Revision.objects.filter(draft_id=draft["id"]).values_list("number", flat=True))
    assert numbers == list(range(1, 8))
