"""Drafts through the API: who sees and does what, the status machine, lists and filters, tenant isolation."""

import pytest

from drafting import services
from drafting.models import Draft
from tests.drafting.conftest import create, save, share

pytestmark = pytest.mark.django_db


def transition(client, draft_id, action, note=""):
    return client.post(f"/api/drafts/{draft_id}/transition", {"action": action, "note": note}, format="json")


def test_a_new_draft_has_revision_1_and_an_etag(acme, draft):
    assert draft["revision"] == 1 and draft["status"] == "draft" and draft["owner"] == acme.submitter.username
    response = acme.submitter_api.get(f"/api/drafts/{draft['id']}")
    assert response.status_code == 200 and response["ETag"] == '"1.1"' == response.json()["etag"]
    assert response.json()["content"].startswith("Intro line") and response.json()["access"]["role"] == "owner"


def test_a_draft_is_private_to_its_people_until_published(acme, draft, make_user, client_for):
    colleague = client_for(make_user(username="acme-colleague", tenant="acme"))
    assert colleague.get(f"/api/drafts/{draft['id']}").status_code == 404
    assert colleague.get("/api/drafts").json()["count"] == 0
    # Approvers review it once it is submitted; admins see every draft.
    assert acme.approver_api.get(f"/api/drafts/{draft['id']}").status_code == 404
    assert acme.admin_api.get(f"/api/drafts/{draft['id']}").status_code == 200
    assert transition(acme.submitter_api, draft["id"], "submit").status_code == 200
    assert acme.approver_api.get(f"/api/drafts/{draft['id']}").status_code == 200
    assert colleague.get(f"/api/drafts/{draft['id']}").status_code == 404
    assert transition(acme.approver_api, draft["id"], "approve").status_code == 200
    assert transition(acme.submitter_api, draft["id"], "publish").json()["status"] == "published"
    assert colleague.get(f"/api/drafts/{draft['id']}").status_code == 200
    assert colleague.get(f"/api/drafts/{draft['id']}").json()["access"]["edit"] is False


def test_the_status_machine_and_its_guards(acme, draft):
    draft_id = draft["id"]
    assert transition(acme.submitter_api, draft_id, "approve").status_code == 403  # the owner decides nothing
    assert transition(acme.approver_api, draft_id, "approve").status_code == 404  # not in review: not theirs
    assert transition(acme.submitter_api, draft_id, "publish").status_code == 409
    assert transition(acme.submitter_api, draft_id, "submit").json()["status"] == "in_review"
    assert transition(acme.submitter_api, draft_id, "submit").status_code == 409
    # Frozen while in review.
    assert save(acme.submitter_api, draft_id, "changed", '"1.1"').status_code == 409
    assert transition(acme.approver_api, draft_id, "request_changes").status_code == 400  # say what
    back = transition(acme.approver_api, draft_id, "request_changes", "Shorter intro, please")
    assert back.json()["status"] == "draft" and back.json()["status_note"] == "Shorter intro, please"
    assert save(acme.submitter_api, draft_id, "Intro\n", '"1.1"').status_code == 201
    transition(acme.submitter_api, draft_id, "submit")
    approved = transition(acme.approver_api, draft_id, "approve", "Good to go").json()
    assert approved["status"] == "approved" and approved["approved_at"]
    assert transition(acme.approver_api, draft_id, "publish").status_code == 403  # the owner or an admin
    assert transition(acme.admin_api, draft_id, "publish").json()["status"] == "published"
    assert transition(acme.submitter_api, draft_id, "archive").json()["status"] == "archived"
    assert transition(acme.submitter_api, draft_id, "archive").status_code == 409


def test_transition_services_act_for_the_system_and_refuse_a_second_move(acme, draft):
    """The governance escalation and the outbox call these with ids (user=None)."""
    services.draft_submit(draft_id=draft["id"], user=acme.submitter)
    services.draft_approve(draft_id=draft["id"])
    with pytest.raises(services.Conflict):
        services.draft_approve(draft_id=draft["id"])
    published = services.draft_publish_mark(draft_id=draft["id"])
    assert published.status == Draft.Status.PUBLISHED and published.published_at is not None


def test_roles_viewer_reads_commenter_comments_editor_saves(acme, draft, make_user, client_for):
    share(acme, draft["id"], approver="viewer", admin="editor")
    commenter = make_user(username="acme-commenter", tenant="acme")
    acme.submitter_api.put(f"/api/drafts/{draft['id']}/collaborators", {"collaborators": [
        {"username": acme.approver.username, "role": "viewer"},
        {"username": "acme-commenter", "role": "commenter"}]}, format="json")
    commenter_api = client_for(commenter)
    viewer = acme.approver_api
    assert viewer.get(f"/api/drafts/{draft['id']}").json()["access"]["role"] == "viewer"
    assert save(viewer, draft["id"], "viewer edit", '"1.1"').status_code == 403
    assert viewer.post(f"/api/drafts/{draft['id']}/comments", {"body": "hm"}, format="json").status_code == 403
    assert save(commenter_api, draft["id"], "commenter edit", '"1.1"').status_code == 403
    assert commenter_api.post(f"/api/drafts/{draft['id']}/comments", {"body": "nice"},
                              format="json").status_code == 201
    assert viewer.put(f"/api/drafts/{draft['id']}/collaborators", {"collaborators": []},
                      format="json").status_code == 403
    # The admin is no longer a collaborator (the list was replaced), but admins edit every draft.
    assert save(acme.admin_api, draft["id"], "admin edit\n", '"1.1"').status_code == 201


def test_collaborators_must_be_members_of_the_tenant(acme, globex, draft):
    response = acme.submitter_api.put(f"/api/drafts/{draft['id']}/collaborators", {"collaborators": [
        {"username": globex.submitter.username, "role": "editor"}]}, format="json")
    assert response.status_code == 400 and "collaborators" in response.json()["error"]["details"]


def test_list_filters_and_search(acme):
    create(acme.submitter_api, title="Outage on Monday", doc_type="incident_report", tags=["db"],
           content="The database failed over.")
    create(acme.submitter_api, title="Release 2.0", doc_type="release_notes", tags=["release"],
           content="New dashboards.")
    create(acme.admin_api, title="Hiring", doc_type="announcement", content="We are hiring.")
    api = acme.admin_api

    def titles(**query):
        response = api.get("/api/drafts", query)
        assert response.status_code == 200, response.content
        return sorted(row["title"] for row in response.json()["results"])

    assert titles(type="incident_report") == ["Outage on Monday"]
    assert titles(tag="release") == ["Release 2.0"]
    assert titles(owner=acme.admin.username) == ["Hiring"]
    assert titles(q="dashboards") == ["Release 2.0"]
    assert titles(q="outage") == ["Outage on Monday"]
    assert titles(status="published") == []
    assert api.get("/api/drafts", {"status": "lost"}).status_code == 400
    assert "content" not in api.get("/api/drafts").json()["results"][0]


def test_another_tenant_gets_404_on_drafts_comments_and_templates(acme, globex, draft):
    comment = acme.submitter_api.post(f"/api/drafts/{draft['id']}/comments", {"body": "secret"}, format="json").json()
    template = acme.admin_api.post("/api/drafts/templates", {"name": "memo", "title": "Memo", "body": "Hi"},
                                   format="json").json()
    outsider = globex.admin_api
    for path in (f"/api/drafts/{draft['id']}", f"/api/drafts/{draft['id']}/revisions",
                 f"/api/drafts/{draft['id']}/revisions/1", f"/api/drafts/{draft['id']}/comments",
                 f"/api/drafts/{draft['id']}/diff?from=1", f"/api/drafts/templates/{template['id']}",
                 f"/api/drafts/templates/{template['id']}/versions"):
        assert outsider.get(path).status_code == 404, path
    assert outsider.post(f"/api/drafts/{draft['id']}/comments/{comment['id']}/resolve").status_code == 404
    assert outsider.post(f"/api/drafts/templates/{template['id']}/preview", {}, format="json").status_code == 404
    assert save(outsider, draft["id"], "mine now", '"1.1"').status_code == 404
    assert outsider.get("/api/drafts").json()["count"] == 0
    assert outsider.get("/api/drafts/templates").json()["count"] == 0
    foreign = outsider.post("/api/drafts", {"template": template["id"]}, format="json")
    assert foreign.status_code == 400 and foreign.json()["error"]["details"] == {"template": ["No such template."]}
