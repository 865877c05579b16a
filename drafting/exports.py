"""Exports of one revision of a draft: Markdown, HTML, JSON and DOCX.

Pure functions on plain data. Each export of a given revision is byte-identical however often and
whenever it is made: nothing in it comes from the clock (DOCX's zip entries and core properties are
dated by the revision), and every serialisation has a fixed order.
"""

import datetime as dt
import html
import io
import json
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass

import docx
import nh3
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from markdown_it import MarkdownIt

FORMATS = ("markdown", "html", "json", "docx")
CONTENT_TYPES = {
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
EXTENSIONS = {"markdown": "md", "html": "html", "json": "json", "docx": "docx"}

# CommonMark plus GFM tables and strikethrough, the two extensions writers expect from any editor.
# Raw HTML stays enabled, as CommonMark has it; the sanitiser below decides what of it survives.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Everything markdown-it emits for the syntax above, and the harmless inline tags writers type by hand.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},  # language-xyz from a fenced block's info string
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"style"},  # markdown-it aligns table columns with style="text-align:..."
    "th": {"style"},
}
ALLOWED_STYLE_PROPERTIES = {"text-align"}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer"

# A downloaded HTML export is opened from disk: it may show images from the web and nothing may run.
_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src http: https:; style-src 'unsafe-inline'"
# XML 1.0 cannot hold C0 controls other than tab and line breaks, nor lone surrogates; python-docx
# refuses such text, so it is dropped from what goes into a DOCX.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CORE_PROPERTY_LIMIT = 255  # python-docx refuses longer core property strings
_MONOSPACE = "Courier New"
_LINK_COLOUR = RGBColor(0x05, 0x63, 0xC1)  # Word's own Hyperlink colour: the default template lacks that style
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a zip entry's DOS date cannot be earlier


@dataclass(frozen=True)
class Export:
    """One exported file, ready to be sent as a download."""

    content: bytes
    content_type: str
    filename: str


def export(fmt: str, *, draft: dict, revision: dict, history: list[dict]) -> Export:
    """Export one revision of a draft in `fmt` (one of FORMATS).

    The same revision always exports to the same bytes. An unknown format is a ValueError.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    title = str(draft.get("title") or "")
    content = str(revision.get("content") or "")
    if fmt == "markdown":
        # The content as the writer wrote it, with no front matter: that is what "export Markdown" is
        # expected to give, and front matter would show as text in most Markdown viewers. The JSON export
        # carries the metadata.
        data = _utf8(content)
    elif fmt == "html":
        data = _utf8(html_document(title, content))
    elif fmt == "json":
        data = _utf8(json.dumps({"draft": draft, "revision": revision, "history": history}, sort_keys=True,
                                ensure_ascii=False, indent=2, default=_json_value) + "\n")
    else:
        data = _docx(draft, revision)
    return Export(content=data, content_type=CONTENT_TYPES[fmt], filename=export_filename(title, revision, fmt))


def render_html(markdown: str) -> str:
    """Markdown rendered as CommonMark (with tables and strikethrough) and sanitised to an allow-list.

    No scripts, styles, event handlers or URLs outside http, https and mailto survive; every link gets
    rel="noopener noreferrer".
    """
    return _sanitise(_MARKDOWN.renderer.render(_MARKDOWN.parse(markdown), _MARKDOWN.options, {}))


def html_document(title: str, markdown: str) -> str:
    """A complete HTML5 document: the title, escaped, as its <title> and first heading, then the content.

    The title heading is left out when the content already opens with the same level-one heading.
    """
    tokens = _MARKDOWN.parse(markdown)
    body = _sanitise(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))
    escaped = html.escape(title)
    heading = "" if _opens_with_title(tokens, title) else f"<h1>{escaped}</h1>\n"
    return (
        "<!DOCTYPE html>\n"
        "<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">\n'
        f"<title>{escaped}</title>\n"
        "</head>\n<body>\n<article>\n"
        f"{heading}{body}"
        "</article>\n</body>\n</html>\n"
    )


def export_filename(title: str, revision: dict, fmt: str) -> str:
    """`<slug of the title>-r<revision number>.<extension>`, ASCII only; "draft" when the title has no
    letters or digits to slug."""
    slug = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:80].rstrip("-") or "draft"
    number = revision.get("number")
    return f"{slug}-r{number if isinstance(number, int) else 0}.{EXTENSIONS[fmt]}"


def _sanitise(rendered: str) -> str:
    return nh3.clean(rendered, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     filter_style_properties=ALLOWED_STYLE_PROPERTIES, url_schemes=ALLOWED_URL_SCHEMES,
                     link_rel=LINK_REL, strip_comments=True)


def _opens_with_title(tokens: list, title: str) -> bool:
    if len(tokens) < 2 or tokens[0].type != "heading_open" or tokens[0].tag != "h1":
        return False
    heading = "".join(c.content for c in tokens[1].children or [] if c.type in ("text", "code_inline"))
    return " ".join(heading.split()).casefold() == " ".join(title.split()).casefold()


def _utf8(text: str) -> bytes:
    # A lone surrogate (from a JSON "\ud800" escape) has no UTF-8 form; it becomes "?" rather than a 500.
    return text.encode("utf-8", "replace")


def _json_value(value):
    """What json cannot serialise on its own, should a caller pass a datetime or UUID instead of a string."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- DOCX ---------------------------------------------------------------------------------------------


def _docx(draft: dict, revision: dict) -> bytes:
    """A Word document of the revision whose bytes depend only on the draft and the revision."""
    document = docx.Document()
    title = _xml_text(str(draft.get("title") or ""))
    tokens = _MARKDOWN.parse(_xml_text(str(revision.get("content") or "")))
    if title and not _opens_with_title(tokens, title):
        document.add_heading(title, level=0)
    _DocxWriter(document).write(tokens)

    written = _revision_time(revision)
    properties = document.core_properties
    properties.title = title[:_CORE_PROPERTY_LIMIT]
    properties.author = _xml_text(str(draft.get("owner") or ""))[:_CORE_PROPERTY_LIMIT]
    properties.last_modified_by = _xml_text(str(revision.get("author") or ""))[:_CORE_PROPERTY_LIMIT]
    properties.category = _xml_text(str(draft.get("document_type") or ""))[:_CORE_PROPERTY_LIMIT]
    tags = draft.get("tags") if isinstance(draft.get("tags"), list) else []
    properties.keywords = _xml_text(", ".join(map(str, tags)))[:_CORE_PROPERTY_LIMIT]
    properties.comments = ""
    properties.subject = ""
    # python-docx writes these with strftime(...Z), without converting: they are given in UTC.
    properties.created = properties.modified = written.replace(tzinfo=None)
    number = revision.get("number")
    properties.revision = number if isinstance(number, int) and not isinstance(number, bool) and number >= 1 else 1

    saved = io.BytesIO()
    document.save(saved)
    zip_time = max(_EARLIEST_ZIP_TIME, min((2107, 12, 31, 23, 59, 58), written.timetuple()[:6]))
    return _reproducible_zip(saved.getvalue(), zip_time)


def _revision_time(revision: dict) -> dt.datetime:
    """When the revision was written, in UTC (naive times are taken as UTC); the zip epoch if unreadable."""
    try:
        written = dt.datetime.fromisoformat(str(revision.get("created_at")))
    except ValueError:
        return dt.datetime(*_EARLIEST_ZIP_TIME, tzinfo=dt.timezone.utc)
    if written.tzinfo is None:
        written = written.replace(tzinfo=dt.timezone.utc)
    return written.astimezone(dt.timezone.utc).replace(microsecond=0)


def _reproducible_zip(data: bytes, date_time: tuple) -> bytes:
    """The same zip with every entry dated `date_time`, fixed attributes, and a fixed order:
    [Content_Types].xml first (as Office writes it), then by name."""
    source = zipfile.ZipFile(io.BytesIO(data))
    names = sorted(source.namelist(), key=lambda name: (name != "[Content_Types].xml", name))
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w") as target:
        for name in names:
            entry = zipfile.ZipInfo(name, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # otherwise the platform it is written on
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(name), compresslevel=6)
    return rewritten.getvalue()


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


class _DocxWriter:
    """Walks markdown-it's token stream into a python-docx Document.

    Headings, paragraphs, bullet and numbered lists (three levels of styles; each numbered list restarts
    at its own start), block quotes, code blocks, tables, rules, and bold/italic/strikethrough/code runs
    and http(s)/mailto links. Anything else (raw HTML, unknown tokens) is left out rather than failing.
    """

    def __init__(self, document):
        self.document = document
        self.lists: list[dict] = []  # open lists, outermost first: {"ordered": bool, "num_id": int | None}
        self.quote_depth = 0
        self.heading_level = 0
        self.first_paragraph_of_item = False
        self.table_rows: list[list] | None = None
        self.header_cell = False

    def write(self, tokens: list) -> None:
        for token in tokens:
            handler = getattr(self, "_" + token.type, None)
            if handler:
                handler(token)

    # block tokens

    def _heading_open(self, token):
        self.heading_level = int(token.tag[1:])

    def _heading_close(self, token):
        self.heading_level = 0

    def _bullet_list_open(self, token):
        self.lists.append({"ordered": False, "num_id": None})

    def _ordered_list_open(self, token):
        start = token.attrGet("start")
        self.lists.append({"ordered": True, "num_id": self._restarted_numbering(int(start) if start else 1)})

    def _bullet_list_close(self, token):
        self.lists.pop()

    _ordered_list_close = _bullet_list_close

    def _list_item_open(self, token):
        self.first_paragraph_of_item = True

    def _list_item_close(self, token):
        self.first_paragraph_of_item = False

    def _blockquote_open(self, token):
        self.quote_depth += 1

    def _blockquote_close(self, token):
        self.quote_depth -= 1

    def _table_open(self, token):
        self.table_rows = []

    def _tr_open(self, token):
        self.table_rows.append([])

    def _th_open(self, token):
        self.header_cell = True

    def _td_open(self, token):
        self.header_cell = False

    def _table_close(self, token):
        rows, self.table_rows = self.table_rows, None
        columns = max((len(row) for row in rows), default=0)
        if not columns:
            return
        table = self.document.add_table(rows=len(rows), cols=columns)
        table.style = self.document.styles["Table Grid"]
        # Row by row: python-docx's table.cell(r, c) lists every cell of the table on each call, which
        # made a long table's export quadratic (minutes for a few thousand rows).
        for table_row, row in zip(table.rows, rows, strict=True):
            cells = table_row.cells
            for c, (header, inline) in enumerate(row):
                self._runs(cells[c].paragraphs[0], inline.children or [], bold=header)

    def _inline(self, token):
        if self.table_rows is not None:
            if self.table_rows:
                self.table_rows[-1].append((self.header_cell, token))
            return
        if self.heading_level:
            paragraph = self.document.add_heading(level=min(self.heading_level, 9))
        else:
            paragraph = self._paragraph()
        self._runs(paragraph, token.children or [])

    def _fence(self, token):
        paragraph = self._paragraph(style="No Spacing")
        run = paragraph.add_run(token.content.rstrip("\n"))  # python-docx turns "\n" into line breaks
        run.font.name = _MONOSPACE
        run.font.size = Pt(9)

    _code_block = _fence

    def _hr(self, token):
        paragraph = self.document.add_paragraph()
        border = OxmlElement("w:pBdr")
        bottom = OxmlElement("w:bottom")
        for name, value in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "auto")):
            bottom.set(qn(f"w:{name}"), value)
        border.append(bottom)
        paragraph._p.get_or_add_pPr().append(border)

    def _paragraph(self, style: str | None = None):
        """A new paragraph in the style its place calls for: a list item's first paragraph is numbered
        or bulleted, later ones continue the item, a quoted one is a Quote."""
        if self.lists:
            depth = min(len(self.lists), 3)
            suffix = "" if depth == 1 else f" {depth}"
            current = self.lists[-1]
            if self.first_paragraph_of_item and style is None:
                self.first_paragraph_of_item = False
                paragraph = self.document.add_paragraph(
                    style=("List Number" if current["ordered"] else "List Bullet") + suffix)
                if current["num_id"] is not None:
                    numbering = paragraph._p.get_or_add_pPr().get_or_add_numPr()
                    numbering.get_or_add_ilvl().val = 0
                    numbering.get_or_add_numId().val = current["num_id"]
                return paragraph
            return self.document.add_paragraph(style=style or "List Continue" + suffix)
        if self.quote_depth and style is None:
            return self.document.add_paragraph(style="Quote")
        return self.document.add_paragraph(style=style)

    def _restarted_numbering(self, start: int) -> int:
        """A numbering instance of the list style's own definition that starts at `start`, so each
        numbered list counts from its own start instead of continuing the previous one."""
        depth = min(len(self.lists) + 1, 3)
        style = self.document.styles["List Number" + ("" if depth == 1 else f" {depth}")]
        numbering = self.document.part.numbering_part.element
        definition = numbering.num_having_numId(style.element.pPr.numPr.numId.val).abstractNumId.val
        instance = numbering.add_num(definition)
        instance.add_lvlOverride(ilvl=0).add_startOverride(max(0, start))
        return instance.numId

    # inline tokens

    def _runs(self, paragraph, children: list, bold: bool = False) -> None:
        strong = emphasis = strike = 0
        link = None
        for child in children:
            kind = child.type
            if kind in ("strong_open", "strong_close"):
                strong += 1 if kind.endswith("open") else -1
            elif kind in ("em_open", "em_close"):
                emphasis += 1 if kind.endswith("open") else -1
            elif kind in ("s_open", "s_close"):
                strike += 1 if kind.endswith("open") else -1
            elif kind == "link_open":
                link = self._hyperlink(paragraph, str(child.attrGet("href") or ""))
            elif kind == "link_close":
                link = None
            elif kind in ("text", "code_inline", "softbreak", "hardbreak", "image"):
                text = {"softbreak": " ", "hardbreak": "\n", "image": f"[{child.content or 'image'}]"}.get(
                    kind, child.content)
                if not text:
                    continue
                run = paragraph.add_run(text)
                run.bold = True if bold or strong > 0 else None
                run.italic = True if emphasis > 0 or kind == "image" else None
                run.font.strike = True if strike > 0 else None
                if kind == "code_inline":
                    run.font.name = _MONOSPACE
                if link is not None:
                    run.font.underline = True
                    run.font.color.rgb = _LINK_COLOUR
                    link.append(run._r)

    def _hyperlink(self, paragraph, href: str):
        """A w:hyperlink in the paragraph for runs to move into; None (plain text) unless the link is to
        the web or a mail address, the only targets that mean anything outside the app."""
        if href.split(":", 1)[0].lower() not in ALLOWED_URL_SCHEMES or ":" not in href:
            return None
        relationship = paragraph.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        hyperlink = OxmlElement("w:hyperlink")
        hyperlink.set(qn("r:id"), relationship)
        paragraph._p.append(hyperlink)
        return hyperlink
