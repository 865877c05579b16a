"""drafting.exports: four formats of one revision, sanitised HTML, a DOCX Word can read, the same bytes every time."""

import io
import json
import time
import zipfile

import docx
import pytest

from drafting import exports
from drafting.exports import Export, export, render_html

CONTENT = """# Design notes

Intro with **bold**, *italic*, ~~gone~~, `code` and [a link](https://example.com/docs).

## Steps

1. First step
2. Second step
   - a nested point

- a bullet

> A quoted remark.

```python
print("hello")
```

| Name | Value |
|------|------:|
| **a** | 1 |
"""

DRAFT = {
    "id": "0b6e3c1e-6f6a-4d8e-9a8e-1c1f0a2b3c4d",
    "title": "Q3 <Design> & Ünïcode review",
    "document_type": "design_doc",
    "status": "in_review",
    "tags": ["design", "q3"],
    "tone": "neutral",
    "audience": "engineering",
    "owner": "alice",
    "created_at": "2025-01-01T10:00:00+00:00",
    "updated_at": "2025-01-02T09:30:00+00:00",
}
REVISION = {"number": 3, "content": CONTENT, "author": "bob", "created_at": "2025-01-02T11:30:00+02:00"}
HISTORY = [
    {"number": 1, "author": "alice", "created_at": "2025-01-01T10:00:00+00:00", "summary": "First draft"},
    {"number": 2, "author": "bob", "created_at": "2025-01-01T15:00:00+00:00", "summary": "Steps"},
    {"number": 3, "author": "bob", "created_at": "2025-01-02T09:30:00+00:00", "summary": "Table"},
]


def export_of(fmt, **changes):
    revision = {**REVISION, **changes}
    return export(fmt, draft=DRAFT, revision=revision, history=HISTORY)


def test_markdown_export_is_the_content_as_written():
    result = export_of("markdown")

    assert result == Export(content=CONTENT.encode("utf-8"), content_type="text/markdown; charset=utf-8",
                            filename="q3-design-unicode-review-r3.md")


def test_json_export_holds_draft_revision_and_history():
    result = export_of("json")

    assert result.content_type == "application/json" and result.filename == "q3-design-unicode-review-r3.json"
    assert json.loads(result.content) == {"draft": DRAFT, "revision": REVISION, "history": HISTORY}
    assert "Ünïcode".encode() in result.content  # ensure_ascii=False
    assert result.content.decode() == json.dumps(json.loads(result.content), sort_keys=True, ensure_ascii=False,
                                                  indent=2) + "\n"


def test_html_export_is_a_complete_document_with_the_title_escaped():
    page = export_of("html").content.decode("utf-8")

    assert page.startswith("<!DOCTYPE html>\n<html>")
    assert '<meta charset="utf-8">' in page
    assert "<title>Q3 &lt;Design&gt; &amp; Ünïcode review</title>" in page
    assert "<h1>Design notes</h1>" in page and "<strong>bold</strong>" in page and "<table>" in page
    assert '<a href="https://example.com/docs" rel="noopener noreferrer">a link</a>' in page
    assert page.rstrip().endswith("</html>")


def test_html_export_does_not_repeat_a_title_the_content_opens_with():
    page = export("html", draft={**DRAFT, "title": "Design notes"}, revision=REVISION, history=HISTORY).content

    assert page.decode().count("<h1>Design notes</h1>") == 1


@pytest.mark.parametrize("hostile, forbidden", [
    ("<script>alert(1)</script>", ["<script", "alert(1)"]),
    ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert"]),
    ("[click](javascript:alert(1))", ['href="javascript']),
    ('<a href="javascript:alert(1)">click</a>', ["javascript:"]),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', ["avascript:"]),
    ('<p onclick="steal()" style="position:fixed">x</p>', ["onclick", "position"]),
    ("<iframe src='https://evil.example'></iframe>", ["<iframe"]),
    ("<style>body{display:none}</style>", ["<style", "display"]),
    ("![x](data:text/html;base64,PHNjcmlwdD4=)", ['src="data:']),
    ('<img src="data:text/html;base64,PHNjcmlwdD4=">', ['src="data:']),
    ('<svg><script>alert(1)</script></svg>', ["<svg", "<script"]),
])
def test_render_html_removes_what_could_run(hostile, forbidden):
    rendered = render_html(f"Before.\n\n{hostile}\n\nAfter.")

    for fragment in forbidden:
        assert fragment not in rendered
    assert "<p>Before.</p>" in rendered and "<p>After.</p>" in rendered


def test_render_html_links_get_rel_noopener_noreferrer():
    rendered = render_html('[docs](https://example.com) and <a href="https://example.org" rel="opener">raw</a>')

    assert rendered.count('rel="noopener noreferrer"') == 2
    assert 'rel="opener"' not in rendered


def test_docx_export_opens_with_the_headings_paragraphs_and_properties():
    result = export_of("docx")
    document = docx.Document(io.BytesIO(result.content))

    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[:4] == [
        ("Title", DRAFT["title"]),
        ("Heading 1", "Design notes"),
        ("Normal", "Intro with bold, italic, gone, code and a link."),
        ("Heading 2", "Steps"),
    ]
    assert ("List Number", "First step") in paragraphs and ("List Bullet 2", "a nested point") in paragraphs
    assert ("List Bullet", "a bullet") in paragraphs and ("Quote", "A quoted remark.") in paragraphs
    assert ("No Spacing", 'print("hello")') in paragraphs
    intro = document.paragraphs[2]
    assert [r.text for r in intro.runs if r.bold] == ["bold"] and [r.text for r in intro.runs if r.italic] == ["italic"]
    assert [h.url for h in intro.hyperlinks] == ["https://example.com/docs"]
    table, = document.tables
    assert [[c.text for c in row.cells] for row in table.rows] == [["Name", "Value"], ["a", "1"]]

    properties = document.core_properties
    assert (properties.title, properties.author, properties.last_modified_by, properties.revision) == (
        DRAFT["title"], "alice", "bob", 3)
    assert properties.created.isoformat() == properties.modified.isoformat() == "2025-01-02T09:30:00+00:00"
    assert result.filename == "q3-design-unicode-review-r3.docx"
    assert result.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_docx_zip_entries_are_dated_by_the_revision_in_a_fixed_order():
    entries = zipfile.ZipFile(io.BytesIO(export_of("docx").content)).infolist()

    assert entries[0].filename == "[Content_Types].xml"
    assert [e.filename for e in entries[1:]] == sorted(e.filename for e in entries[1:])
    assert {e.date_time for e in entries} == {(2025, 1, 2, 9, 30, 0)}


def test_docx_export_survives_what_markdown_allows_and_xml_does_not():
    content = ("# \x07Bell\x00 and \x1b escape\n\n<div>raw *html*</div>\n\n[rel](/relative) "
               "[mail](mailto:a@example.com) ![img](x.png)\n\n- \n-\n  ```\n  code in a list\n  ```\n\n"
               "2. starts at two\n\n***\n\n> - quoted list\n>\n> > deeper\n\n| only header |\n|---|\n\n"
               "lone surrogate \ud800 here\n")

    document = docx.Document(io.BytesIO(export_of("docx", content=content, created_at="not a date").content))

    texts = [p.text for p in document.paragraphs]
    assert "Bell and  escape" in texts
    assert "rel mail [img]" in texts and "starts at two" in texts
    assert [h.url for p in document.paragraphs for h in p.hyperlinks] == ["mailto:a@example.com"]


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_every_export_of_a_revision_is_byte_identical(fmt, monkeypatch):
    first = export_of(fmt)

    # A later export, as if made a day later: python-docx dates core properties and zip entries by the clock.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400)
    monkeypatch.setattr(time, "localtime", lambda seconds=None: time.gmtime(real_time() + 86_400))
    again = export_of(fmt)

    assert again == first


def test_docx_export_is_byte_identical_a_second_later():
    first = export_of("docx")
    time.sleep(1.1)  # past the two-second granularity of a zip entry's time half the time, past a second always

    assert export_of("docx").content == first.content


def test_each_revision_exports_to_its_own_bytes():
    assert export_of("docx").content != export_of("docx", content=CONTENT + "\nMore.\n").content
    assert export_of("docx", number=4).filename == "q3-design-unicode-review-r4.docx"


def test_filename_of_a_title_without_letters_falls_back_to_draft():
    result = export("markdown", draft={**DRAFT, "title": "???"}, revision=REVISION, history=HISTORY)

    assert result.filename == "draft-r3.md"


@pytest.mark.parametrize("fmt", ["pdf", "MARKDOWN", "", "docx "])
def test_unknown_export_format_is_refused(fmt):
    with pytest.raises(ValueError, match="Unknown export format"):
        export(fmt, draft=DRAFT, revision=REVISION, history=HISTORY)
