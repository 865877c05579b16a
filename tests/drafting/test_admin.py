"""The drafts screen: a tenant admin reads the rendered document, its revisions and a side-by-side diff."""

import pytest

from tests.drafting.conftest import create, save

pytestmark = pytest.mark.django_db


def test_a_tenant_admin_reads_the_document_its_revisions_and_a_diff(acme, globex, client):
    draft = create(acme.submitter_api, content="# Plan\n\nFirst <script>alert(1)</script> line\n")
    assert save(acme.submitter_api, draft["id"], "# Plan\n\nSecond line\n", draft["etag"]).status_code == 201
    client.force_login(acme.admin)
    page = client.get(f"/admin/drafting/draft/{draft['id']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Plan</h1>" in html and "<script>alert(1)</script>" not in html
    diff_link = f"/admin/drafting/draft/{draft['id']}/diff/?from=1&to=2"
    assert diff_link in html  # the revision list, each revision with a diff to the one before
    diff = client.get(f"/admin/drafting/draft/{draft['id']}/diff/", {"from": 1, "to": 2})
    assert diff.status_code == 200 and "Second&nbsp;line" in diff.content.decode()  # HtmlDiff keeps spaces
    client.force_login(globex.admin)
    assert client.get(f"/admin/drafting/draft/{draft['id']}/diff/").status_code == 404
