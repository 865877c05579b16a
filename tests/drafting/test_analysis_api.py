"""GET /api/drafts/{id}/analysis (a revision) and POST (an editor's unsaved buffer), against the tenant's style
guide from its `drafting` configuration document."""

import pytest

from tests.drafting.conftest import create, save

pytestmark = pytest.mark.django_db

GUIDE = {"banned_phrases": [{"phrase": "synergy", "suggestion": "working together"}],
         "preferred_phrases": {"e-mail": "email"}, "required_sections": {"incident_report": ["Impact"]}}


def set_drafting(team, **content):
    response = team.admin_api.put("/api/config/drafting", {"content": content, "reason": "house style"},
                                  format="json")
    assert response.status_code == 200, response.content


def test_a_revision_is_analysed_with_the_tenants_style_guide(acme):
    set_drafting(acme, style_guide=GUIDE)
    draft = create(acme.submitter_api, doc_type="incident_report", content="# Outage\n\nPure synergy by e-mail.\n")
    assert save(acme.submitter_api, draft["id"], "# Outage\n\n## Impact\n\nNone.\n", 1).status_code == 201

    first = acme.submitter_api.get(f"/api/drafts/{draft['id']}/analysis", {"revision": 1})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["revision"] == 1 and body["document_type"] == "incident_report"
    rules = sorted(finding["rule"] for finding in body["findings"])
    assert rules == ["banned_phrase", "preferred_phrase", "required_section"], body["findings"]
    banned = next(f for f in body["findings"] if f["rule"] == "banned_phrase")
    content = acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions/1").json()["content"]
    assert content[banned["start"]:banned["end"]] == "synergy" and "working together" in banned["suggestion"]

    latest = acme.submitter_api.get(f"/api/drafts/{draft['id']}/analysis").json()
    assert latest["revision"] == 2 and latest["findings"] == []


def test_without_a_style_guide_there_are_counts_and_no_findings(acme):
    draft = create(acme.submitter_api, content="One sentence here. Another one there.\n")
    body = acme.submitter_api.get(f"/api/drafts/{draft['id']}/analysis").json()
    assert body["words"] == 6 and body["sentences"] == 2 and body["findings"] == []


def test_an_unsaved_buffer_is_analysed_and_not_stored(acme):
    set_drafting(acme, style_guide=GUIDE)
    draft = create(acme.submitter_api, content="Clean.\n")
    response = acme.submitter_api.post(f"/api/drafts/{draft['id']}/analysis", {"content": "Some synergy.\n"},
                                       format="json")
    assert response.status_code == 200, response.content
    assert response.json()["revision"] is None and response.json()["findings"][0]["rule"] == "banned_phrase"
    assert acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions").json()["count"] == 1


def test_another_tenant_gets_404(acme, globex):
    draft = create(acme.submitter_api, content="Text.\n")
    assert globex.admin_api.get(f"/api/drafts/{draft['id']}/analysis").status_code == 404
