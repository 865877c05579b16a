"""Templates: versions, variables checked against their JSON Schema, a sandbox that refuses escapes and
bounds hostile templates, previews that save nothing, drafts made from a template."""

import pytest

from drafting.models import Draft, Template, TemplateVersion

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "required": ["service", "minutes"], "additionalProperties": False,
          "properties": {"service": {"type": "string", "minLength": 1}, "minutes": {"type": "integer", "minimum": 0}}}
BODY = "# {{ service }} outage\n\nDown for {{ minutes }} minutes.\n"


@pytest.fixture
def template(acme):
    response = acme.admin_api.post("/api/drafts/templates", {
        "name": "incident", "title": "Incident report", "doc_type": "incident_report", "body": BODY,
        "variables_schema": SCHEMA}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def preview(client, template_id, variables, **body):
    return client.post(f"/api/drafts/templates/{template_id}/preview", {"variables": variables, **body},
                       format="json")


def test_admins_manage_templates_and_every_change_is_a_version(acme, template):
    assert acme.submitter_api.post("/api/drafts/templates", {"name": "x", "title": "x", "body": "x"},
                                   format="json").status_code == 403
    assert acme.submitter_api.patch(f"/api/drafts/templates/{template['id']}", {"body": "x"},
                                    format="json").status_code == 403
    assert acme.submitter_api.get(f"/api/drafts/templates/{template['id']}").status_code == 200
    changed = acme.admin_api.patch(f"/api/drafts/templates/{template['id']}", {"body": BODY + "Sorry.\n"},
                                   format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    renamed = acme.admin_api.patch(f"/api/drafts/templates/{template['id']}", {"description": "For outages"},
                                   format="json")
    assert renamed.json()["version"] == 2  # a description is the template's, not a version's
    versions = acme.submitter_api.get(f"/api/drafts/templates/{template['id']}/versions").json()["results"]
    assert [v["number"] for v in versions] == [2, 1] and versions[1]["body"] == BODY
    assert acme.admin_api.post("/api/drafts/templates", {"name": "incident", "title": "x", "body": "x"},
                               format="json").status_code == 409


def test_a_template_that_does_not_parse_or_a_schema_that_is_not_one_is_refused(acme):
    response = acme.admin_api.post("/api/drafts/templates", {"name": "bad", "title": "x", "body": "{% if %}",
                                                             "variables_schema": {"type": "nonsense"}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"body", "variables_schema"}
    assert not Template.objects.exists()


def test_preview_renders_and_saves_nothing(acme, template):
    before = (Draft.objects.count(), TemplateVersion.objects.count())
    response = preview(acme.submitter_api, template["id"], {"service": "Billing", "minutes": 12})
    assert response.status_code == 200, response.content
    assert response.json()["content"] == "# Billing outage\n\nDown for 12 minutes.\n"
    assert (Draft.objects.count(), TemplateVersion.objects.count()) == before


def test_variables_are_checked_against_the_schema_with_each_error_named(acme, template):
    response = preview(acme.submitter_api, template["id"], {"minutes": -1, "extra": True})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert "variables" in details and "variables.minutes" in details
    assert any("service" in message for message in details["variables"])
    created = acme.submitter_api.post("/api/drafts", {"template": template["id"], "variables": {"service": ""}},
                                      format="json")
    assert created.status_code == 400 and not Draft.objects.exists()


def test_a_draft_from_a_template_starts_with_its_rendering(acme, template):
    response = acme.submitter_api.post("/api/drafts", {"template": template["id"],
                                                       "variables": {"service": "Search", "minutes": 3}}, format="json")
    assert response.status_code == 201, response.content
    draft = response.json()
    assert draft["title"] == "Incident report" and draft["doc_type"] == "incident_report"
    assert draft["content"] == "# Search outage\n\nDown for 3 minutes.\n" and draft["owner"] == acme.submitter.username
    revision = acme.submitter_api.get(f"/api/drafts/{draft['id']}/revisions/1").json()
    assert revision["kind"] == "template"


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% set x = ''.format.__self__ %}{{ x }}",
])
def test_the_sandbox_refuses_escapes(acme, body):
    template = acme.admin_api.post("/api/drafts/templates", {"name": "evil", "title": "x", "body": body},
                                   format="json").json()
    response = preview(acme.submitter_api, template["id"], {})
    assert response.status_code == 400, response.content
    assert "<class" not in response.content.decode() and "subclasses" not in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 100000000 }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ '{:>999999999}'.format('x') }}",
    "{{ '%999999999s' % 'x' }}",
    "{% set s = namespace(v='x') %}{% for i in range(60) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
])
def test_a_hostile_template_can_neither_hang_nor_balloon_a_worker(acme, body, settings):
    settings.DRAFT_TEMPLATE_RENDER_SECONDS = 1
    template = acme.admin_api.post("/api/drafts/templates", {"name": "heavy", "title": "x", "body": body},
                                   format="json").json()
    response = preview(acme.submitter_api, template["id"], {})
    assert response.status_code == 400 and response.json()["error"]["details"]["template"]


def test_an_undefined_variable_is_an_error_not_blank(acme):
    template = acme.admin_api.post("/api/drafts/templates", {"name": "t", "title": "x", "body": "Hi {{ name }}"},
                                   format="json").json()
    response = preview(acme.submitter_api, template["id"], {})
    assert response.status_code == 400 and "name" in str(response.json()["error"]["details"])


def test_the_title_is_rendered_with_the_variables_too(acme):
    response = acme.admin_api.post("/api/drafts/templates", {
        "name": "titled", "title": "{{ service }} down for {{ minutes }} min", "body": BODY,
        "variables_schema": SCHEMA}, format="json")
    assert response.status_code == 201, response.content
    variables = {"service": "Search", "minutes": 3}
    assert preview(acme.submitter_api, response.json()["id"], variables).json()["title"] == "Search down for 3 min"
    draft = acme.submitter_api.post("/api/drafts", {"template": response.json()["id"], "variables": variables},
                                    format="json").json()
    assert draft["title"] == "Search down for 3 min"
    broken = acme.admin_api.post("/api/drafts/templates", {"name": "broken", "title": "{{ service", "body": BODY},
                                 format="json")
    assert broken.status_code == 400 and "title" in broken.json()["error"]["details"]
