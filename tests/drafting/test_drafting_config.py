"""The tenant's `drafting` configuration document: its schema (the style guide's own), and what it switches:
the templates new drafts may start from, and agent help."""

import pytest

from tests.drafting.conftest import create

pytestmark = pytest.mark.django_db


def put(team, content):
    return team.admin_api.put("/api/config/drafting", {"content": content, "reason": "drafting rules"}, format="json")


def template(team, name):
    response = team.admin_api.post("/api/drafts/templates", {"name": name, "title": "Memo", "body": "Hello"},
                                   format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_the_document_is_listed_with_its_defaults_and_schema(acme):
    body = acme.submitter_api.get("/api/config/drafting").json()
    assert body["effective"] == {"style_guide": {}, "templates_allowed": [], "assist_enabled": True}
    assert "banned_phrases" in body["schema"]["properties"]["style_guide"]["properties"]


def test_an_invalid_style_guide_is_refused_naming_the_field(acme):
    response = put(acme, {"style_guide": {"banned_phrases": [""]}})
    assert response.status_code == 400
    assert any("style_guide.banned_phrases" in key for key in response.json()["error"]["details"]), response.json()
    assert put(acme, {"style_guide": {"max_sentence_words": 25}}).status_code == 200


def test_a_template_not_allowed_is_refused_for_new_drafts(acme):
    allowed, other = template(acme, "status update"), template(acme, "press release")
    assert put(acme, {"templates_allowed": ["status update"]}).status_code == 200

    refused = acme.submitter_api.post("/api/drafts", {"template": other}, format="json")
    assert refused.status_code == 403
    assert "press release" in refused.json()["error"]["message"] and "template" in refused.json()["error"]["details"]
    assert create(acme.submitter_api, template=allowed)["template_version"]
    assert put(acme, {"templates_allowed": [other]}).status_code == 200  # by id too
    assert create(acme.submitter_api, template=other)["template_version"]


def test_every_template_is_allowed_when_the_list_is_empty(acme):
    template_id = template(acme, "status update")
    assert put(acme, {"templates_allowed": []}).status_code == 200
    assert create(acme.submitter_api, template=template_id)


def test_one_tenants_rules_are_not_anothers(acme, globex):
    assert put(acme, {"templates_allowed": ["status update"]}).status_code == 200
    template_id = template(globex, "press release")
    assert create(globex.submitter_api, template=template_id)
