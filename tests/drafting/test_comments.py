"""Comments: anchors, replies, resolve and reopen, anchors found again after edits, @mentions told once."""

import pytest

from drafting import comments as comment_services
from drafting.models import Comment
from integrations.models import ChannelIdentity, OutboundMessage
from tests.drafting.conftest import save, share

pytestmark = pytest.mark.django_db


def post_comment(client, draft_id, **body):
    return client.post(f"/api/drafts/{draft_id}/comments", body, format="json")


def test_a_comment_anchors_to_a_range_and_quotes_it(acme, draft):
    response = post_comment(acme.submitter_api, draft["id"], body="Too vague", start=12, end=23)
    assert response.status_code == 201, response.content
    comment = response.json()
    assert comment["quote"] == "Middle line" and comment["revision"] == 1
    assert comment["anchor"] == {"start": 12, "end": 23}
    wrong = post_comment(acme.submitter_api, draft["id"], body="x", start=12, end=23, quote="Intro line")
    assert wrong.status_code == 400 and "quote" in wrong.json()["error"]["details"]
    assert post_comment(acme.submitter_api, draft["id"], body="x", start=5, end=999).status_code == 400
    assert post_comment(acme.submitter_api, draft["id"], body="x", start=5).status_code == 400


def test_the_anchor_is_found_again_after_edits_and_orphaned_when_its_text_goes(acme, draft):
    comment = post_comment(acme.submitter_api, draft["id"], body="Check", start=12, end=23).json()
    save(acme.submitter_api, draft["id"], "A new first paragraph\n\nIntro line\n\nMiddle line\n", '"1.1"')
    listed = acme.submitter_api.get(f"/api/drafts/{draft['id']}/comments").json()["results"]
    content = acme.submitter_api.get(f"/api/drafts/{draft['id']}").json()["content"]
    start, end = listed[0]["anchor"]["start"], listed[0]["anchor"]["end"]
    assert content[start:end] == "Middle line" and (start, end) != (12, 23)
    assert listed[0]["start"] == 12  # the anchor as made, in revision 1
    save(acme.submitter_api, draft["id"], "Nothing of it left\n", '"2.1"', checkpoint=True)
    orphan = acme.submitter_api.get(f"/api/drafts/{draft['id']}/comments").json()["results"][0]
    assert orphan["id"] == comment["id"] and orphan["anchor"] is None


def test_replies_resolve_and_reopen(acme, draft):
    share(acme, draft["id"], approver="commenter")
    thread = post_comment(acme.approver_api, draft["id"], body="Why?", start=0, end=5).json()
    reply = post_comment(acme.submitter_api, draft["id"], body="Because.", parent=thread["id"])
    assert reply.status_code == 201 and reply.json()["parent"] == thread["id"]
    assert post_comment(acme.submitter_api, draft["id"], body="x", parent=thread["id"], start=0,
                        end=2).status_code == 400
    assert post_comment(acme.submitter_api, draft["id"], body="x", parent=reply.json()["id"]).status_code == 400
    path = f"/api/drafts/{draft['id']}/comments/{thread['id']}"
    resolved = acme.submitter_api.post(f"{path}/resolve")
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == acme.submitter.username
    assert acme.submitter_api.post(f"{path}/resolve").status_code == 200  # again: no change
    threads = acme.submitter_api.get(f"/api/drafts/{draft['id']}/comments", {"resolved": "false"}).json()
    assert threads["count"] == 0
    everything = acme.submitter_api.get(f"/api/drafts/{draft['id']}/comments").json()["results"]
    assert [r["body"] for r in everything[0]["replies"]] == ["Because."]
    reopened = acme.approver_api.post(f"{path}/reopen")  # its author, a commenter
    assert reopened.status_code == 200 and reopened.json()["resolved_at"] is None
    reply_path = f"/api/drafts/{draft['id']}/comments/{reply.json()['id']}/resolve"
    assert acme.submitter_api.post(reply_path).status_code == 409


def test_a_mention_notifies_a_member_once_through_their_chat(acme, draft, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.INTEGRATIONS_ENABLED = {**settings.INTEGRATIONS_ENABLED, "slack": True}
    share(acme, draft["id"], approver="commenter", admin="viewer")
    ChannelIdentity.objects.create(tenant_id=acme.tenant_id, user=acme.approver, channel="slack", address="U0APPROVER")
    # The admin has no chat identity: mentioned, not notified. Nobody named @nobody is in the tenant.
    response = post_comment(acme.submitter_api, draft["id"],
                            body=f"@{acme.approver.username}, @{acme.admin.username} and @nobody: please look.")
    assert response.status_code == 201
    assert response.json()["mentions"] == sorted([acme.approver.username, acme.admin.username])
    messages = OutboundMessage.objects.filter(purpose=comment_services.MENTION_PURPOSE)
    assert messages.count() == 1
    message = messages.get()
    assert message.to == "U0APPROVER" and message.recipient_id == acme.approver.pk
    assert "Launch note" in message.text and acme.submitter.username in message.text
    # Telling again (a retried request, a re-run) queues nothing more: one key per comment and identity.
    comment = Comment.objects.get(pk=response.json()["id"])
    comment_services._notify_mentions(comment.draft, comment, acme.submitter)
    assert messages.count() == 1


def test_a_mention_of_someone_who_may_not_read_the_draft_tells_them_nothing(acme, draft, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test-token"
    settings.INTEGRATIONS_ENABLED = {**settings.INTEGRATIONS_ENABLED, "slack": True}
    ChannelIdentity.objects.create(tenant_id=acme.tenant_id, user=acme.approver, channel="slack", address="U0APPROVER")
    response = post_comment(acme.submitter_api, draft["id"], body=f"@{acme.approver.username} look")
    assert response.status_code == 201 and response.json()["mentions"] == []
    assert not OutboundMessage.objects.exists()
