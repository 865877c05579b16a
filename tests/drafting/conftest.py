"""Drafts for the drafting tests: made through the API, as a client would."""

import pytest


def create(client, **body):
    response = client.post("/api/drafts", {"title": "Launch note", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def save(client, draft_id, content, if_match, **body):
    headers = {"HTTP_IF_MATCH": str(if_match)} if if_match is not None else {}
    return client.post(f"/api/drafts/{draft_id}/revisions", {"content": content, **body}, format="json", **headers)


def share(team, draft_id, **roles):
    """Share acme's draft: roles maps a team member's attribute (approver) to a role (editor)."""
    collaborators = [{"username": getattr(team, member).username, "role": role} for member, role in roles.items()]
    response = team.submitter_api.put(f"/api/drafts/{draft_id}/collaborators", {"collaborators": collaborators},
                                      format="json")
    assert response.status_code == 200, response.content


@pytest.fixture
def draft(acme):
    """acme's submitter's draft, revision 1 holding three paragraphs."""
    return create(acme.submitter_api, content="Intro line\n\nMiddle line\n\nClosing line\n", tags=["launch"])
