"""GET /api/drafts/{id}/export: each format of a revision through the API, the same bytes every time, with the
right headers; rendered formats bounded in size."""

import io
import json
import zipfile

import pytest

from tests.drafting.conftest import create, save

pytestmark = pytest.mark.django_db

CONTENT = "# Launch\n\nWe launch **soon**.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n"
TYPES = {"markdown": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8", "json": "application/json",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
EXTENSIONS = {"markdown": "md", "html": "html", "json": "json", "docx": "docx"}


def export(client, draft_id, **query):
    return client.get(f"/api/drafts/{draft_id}/export", query)


@pytest.mark.parametrize("fmt", list(TYPES))
def test_each_format_is_the_same_bytes_on_repeat_with_its_headers(acme, fmt):
    draft = create(acme.submitter_api, title="Launch plan", content=CONTENT)
    assert save(acme.submitter_api, draft["id"], CONTENT + "More.\n", 1).status_code == 201

    first = export(acme.submitter_api, draft["id"], format=fmt, revision=1)
    # Later saves, a comment and a new revision do not change what revision 1 exports to.
    assert save(acme.submitter_api, draft["id"], CONTENT + "Even more.\n", '"2.1"', checkpoint=True).status_code == 201
    again = export(acme.submitter_api, draft["id"], format=fmt, revision=1)

    assert first.status_code == 200, first.content
    assert first.content == again.content
    assert first["Content-Type"] == TYPES[fmt]
    assert first["Content-Disposition"] == f'attachment; filename="launch-plan-r1.{EXTENSIONS[fmt]}"'
    assert first["Content-Length"] == str(len(first.content))


def test_the_formats_hold_the_revision(acme):
    draft = create(acme.submitter_api, title="Launch plan", content=CONTENT)
    assert save(acme.submitter_api, draft["id"], CONTENT + "Latest.\n", 1).status_code == 201

    assert export(acme.submitter_api, draft["id"]).content.decode() == CONTENT + "Latest.\n"  # default: markdown, latest
    page = export(acme.submitter_api, draft["id"], format="html", revision=1).content.decode()
    assert "<strong>soon</strong>" in page and "<script>" not in page
    document = json.loads(export(acme.submitter_api, draft["id"], format="json").content)
    assert document["revision"]["number"] == 2 and document["revision"]["content"].endswith("Latest.\n")
    assert [entry["number"] for entry in document["history"]] == [1, 2]
    assert document["draft"]["title"] == "Launch plan" and document["draft"]["owner"] == acme.submitter.username
    word = zipfile.ZipFile(io.BytesIO(export(acme.submitter_api, draft["id"], format="docx").content))
    assert "We launch" in word.read("word/document.xml").decode()


def test_an_unknown_format_or_revision_is_refused(acme):
    draft = create(acme.submitter_api, content=CONTENT)
    assert export(acme.submitter_api, draft["id"], format="pdf").status_code == 400
    assert export(acme.submitter_api, draft["id"], revision=9).status_code == 404


def test_html_and_docx_of_a_revision_over_the_render_bound_are_refused(acme, settings):
    settings.DRAFT_EXPORT_RENDER_MAX_BYTES = 1000
    draft = create(acme.submitter_api, content="| a |\n|---|\n" + "| x |\n" * 400)
    for fmt in ("html", "docx"):
        response = export(acme.submitter_api, draft["id"], format=fmt)
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "export_too_large"
        assert response.json()["error"]["details"] == {"max_bytes": 1000, "format": fmt}
    assert export(acme.submitter_api, draft["id"], format="markdown").status_code == 200
    assert export(acme.submitter_api, draft["id"], format="json").status_code == 200


def test_another_tenant_and_people_it_is_not_shared_with_get_404(acme, globex):
    draft = create(acme.submitter_api, content=CONTENT)
    assert export(globex.admin_api, draft["id"]).status_code == 404
    assert export(acme.approver_api, draft["id"]).status_code == 404
    assert export(acme.admin_api, draft["id"], format="docx").status_code == 200
