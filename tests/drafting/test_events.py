"""A draft's live stream: another client's revision and comment arrive within a second, presence, and
resuming after Last-Event-ID."""

import json
import time

import pytest

from tests.drafting.conftest import save, share

pytestmark = pytest.mark.django_db


def events_of(chunks):
    """Parsed SSE events from an iterator of chunks, one per chunk as the view writes them."""
    for chunk in chunks:
        text = chunk.decode()
        if text.startswith(("retry:", ":")):
            continue
        fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
        yield {"event": fields["event"], "id": fields.get("id"), "data": json.loads(fields["data"])}


def open_stream(client, draft_id, **headers):
    response = client.get(f"/api/drafts/{draft_id}/events", **headers)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    return events_of(iter(response.streaming_content))


def test_an_open_editor_sees_another_clients_revision_and_comment_within_a_second(acme, draft, settings):
    settings.DRAFT_STREAM_MAX_SECONDS = 5
    share(acme, draft["id"], approver="editor")
    stream = open_stream(acme.approver_api, draft["id"])
    first = next(stream)
    assert first["event"] == "presence" and acme.approver.username in first["data"]["viewers"]
    created = next(stream)
    assert created["event"] == "revision" and created["data"]["number"] == 1
    shared = next(stream)
    assert shared["event"] == "draft" and shared["data"]["changed"] == ["collaborators"]
    saved_at = time.monotonic()
    save(acme.submitter_api, draft["id"], "Intro line\n\nNew middle\n\nClosing line\n", '"1.1"')
    seen = next(stream)
    assert seen["event"] == "revision" and seen["data"]["number"] == 2
    assert seen["data"]["author"] == acme.submitter.username and "New middle" in seen["data"]["content"]
    assert time.monotonic() - saved_at < 1.0
    acme.submitter_api.post(f"/api/drafts/{draft['id']}/comments", {"body": "Look"}, format="json")
    comment = next(stream)
    assert comment["event"] == "comment" and comment["data"]["body"] == "Look"
    assert int(comment["id"]) > int(seen["id"])


def test_presence_names_each_viewer(acme, draft, settings):
    settings.DRAFT_STREAM_MAX_SECONDS = 3
    share(acme, draft["id"], approver="viewer")
    owner_stream = open_stream(acme.submitter_api, draft["id"])
    assert next(owner_stream)["data"]["viewers"] == [acme.submitter.username]
    viewer_stream = open_stream(acme.approver_api, draft["id"])
    assert next(viewer_stream)["data"]["viewers"] == sorted([acme.submitter.username, acme.approver.username])
    changed = next(event for event in owner_stream if event["event"] == "presence")
    assert changed["data"]["viewers"] == sorted([acme.submitter.username, acme.approver.username])


def test_a_stream_resumes_after_last_event_id_and_ends_in_time(acme, draft, settings):
    settings.DRAFT_STREAM_MAX_SECONDS = 1
    save(acme.submitter_api, draft["id"], "two\n", '"1.1"')
    every = [event for event in open_stream(acme.submitter_api, draft["id"]) if event["id"]]
    assert [event["data"]["number"] for event in every] == [1, 2]
    started = time.monotonic()
    after = [event for event in open_stream(acme.submitter_api, draft["id"], HTTP_LAST_EVENT_ID=every[0]["id"])
             if event["id"]]
    assert [event["data"]["number"] for event in after] == [2]
    assert time.monotonic() - started < 3  # the stream ended on its own
    bad = acme.submitter_api.get(f"/api/drafts/{draft['id']}/events", HTTP_LAST_EVENT_ID="99999999")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
