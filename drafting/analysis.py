"""Offline analysis of a draft: counts, readability and the tenant's style-guide findings.

Pure functions on plain data. The Markdown is parsed once with markdown-it-py; every prose run in its
token stream is located back in the original content, so a finding's `start`/`end` are character offsets
into what the writer typed (`content[start:end]` is the matched phrase), while counts and scores see only
the text a reader sees (no `#`, `**`, link targets or code blocks).
"""

import bisect
import re
from dataclasses import dataclass, field

import jsonschema
import textstat
from markdown_it import MarkdownIt

# Only the first MAX_ANALYSED_CHARACTERS are parsed and scored, so a 10 MB paste costs what ~16,000
# words cost (well under a second) instead of minutes; the result says when it was cut.
MAX_ANALYSED_CHARACTERS = 100_000
# Silent reading speed of adult readers of English non-fiction (Brysbaert 2019, "How many words do we
# read per minute?").
WORDS_PER_MINUTE = 238
# A tenant's lists are capped too: each entry is one regular expression run over the text.
MAX_STYLE_GUIDE_ENTRIES = 500
EXCERPT_CONTEXT = 30

STYLE_GUIDE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Drafting style guide",
    "description": "A tenant's house style, checked by drafting.analysis.analyse. Phrases match whole words,"
                   " case-insensitively.",
    "type": "object",
    "additionalProperties": False,
    "$defs": {
        "phrase": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
    },
    "properties": {
        "banned_phrases": {
            "description": "Phrases not to use; an entry may name the phrase to use instead.",
            "type": "array",
            "maxItems": MAX_STYLE_GUIDE_ENTRIES,
            "items": {
                "oneOf": [
                    {"$ref": "#/$defs/phrase"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["phrase"],
                        "properties": {
                            "phrase": {"$ref": "#/$defs/phrase"},
                            "suggestion": {"type": "string", "maxLength": 200},
                        },
                    },
                ],
            },
        },
        "preferred_phrases": {
            "description": "Phrase found -> the house's spelling of it, e.g. {\"e-mail\": \"email\"}.",
            "type": "object",
            "maxProperties": MAX_STYLE_GUIDE_ENTRIES,
            "propertyNames": {"$ref": "#/$defs/phrase"},
            "additionalProperties": {"type": "string", "maxLength": 200},
        },
        "required_sections": {
            "description": "Document type -> headings (any level, case-insensitive) that document must have.",
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "maxItems": MAX_STYLE_GUIDE_ENTRIES,
                "items": {"$ref": "#/$defs/phrase"},
            },
        },
        "max_sentence_words": {
            "description": "Sentences with more words than this are flagged.",
            "type": "integer",
            "minimum": 1,
        },
        "tone_words": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "avoid": {"type": "array", "maxItems": MAX_STYLE_GUIDE_ENTRIES, "items": {"$ref": "#/$defs/phrase"}},
                "prefer": {"type": "array", "maxItems": MAX_STYLE_GUIDE_ENTRIES, "items": {"$ref": "#/$defs/phrase"}},
            },
        },
    },
}
_STYLE_GUIDE_VALIDATOR = jsonschema.Draft202012Validator(STYLE_GUIDE_SCHEMA)

# Tables and strikethrough too, so a table's pipes and a ~~deletion~~'s tildes are not counted as words.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# markdown-it-py's own line-break rule (normalize.py), so its token line maps index these lines.
_LINE_BREAK = re.compile(r"\r\n?|\n")
_TERMINAL_PUNCTUATION = ".!?:;"
# A sentence ends at . ! or ? (closing quotes and brackets kept with it) followed by a space or the end.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_SECTION_NUMBER = re.compile(r"^\d+(?:\.\d+)*[.)]?\s+")
# Beyond the cap only ATX headings are looked for, line by line, so a required section further down a
# truncated document is not reported missing.
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
# How far ahead a run of text that markdown-it decoded (entities, backslash escapes) is looked for.
_ALIGN_WINDOW = 64
_FIRST_CHAR_WINDOW = 4096


@dataclass
class _Block:
    """One run of prose (a paragraph, heading, list item or table cell) with its origin in the source."""

    kind: str
    text: list = field(default_factory=list)
    offsets: list = field(default_factory=list)
    code: list = field(default_factory=list)  # (start, end) in block text: inline code, never checked


def analyse(content: str, *, document_type: str = "free", style_guide: dict | None = None) -> dict:
    """Count, score and check a draft against a style guide, offline and in bounded time.

    Only the first MAX_ANALYSED_CHARACTERS are analysed (`truncated` says so); an invalid style guide is
    reported in `style_guide_errors` and its valid parts are still applied, never raised.
    """
    content = content if isinstance(content, str) else ""
    analysed = _cap(content)
    blocks = _prose_blocks(analysed)
    text = _joined(blocks)
    characters = sum(len("".join(block.text).strip()) for block in blocks)
    words = textstat.lexicon_count(text) if text else 0
    guide, guide_errors = _usable_style_guide(style_guide)
    line_starts = _line_starts(analysed)  # every finding lies in the analysed part

    findings = []
    for rule, severity, phrase, message, suggestion in _phrase_rules(guide):
        pattern = _phrase_pattern(phrase)
        for block in blocks:
            block_text = "".join(block.text)
            for match in pattern.finditer(block_text):
                if any(match.start() < end and start < match.end() for start, end in block.code):
                    continue
                start, end = block.offsets[match.start()], block.offsets[match.end() - 1] + 1
                findings.append(_finding(content, line_starts, rule, severity, start, end,
                                         message.format(found=content[start:end]), suggestion))
    if guide.get("max_sentence_words"):
        findings += _long_sentences(content, line_starts, blocks, guide["max_sentence_words"])
    required = guide.get("required_sections", {}).get(document_type, [])
    if required:
        present = {_heading_key("".join(b.text)) for b in blocks if b.kind == "heading"}
        if len(analysed) < len(content):
            present |= {_heading_key(m.group(1)) for m in _ATX_HEADING.finditer(content, len(analysed))}
        for section in required:
            if _heading_key(section) not in present:
                findings.append(_finding(
                    content, line_starts, "required_section", "error", 0, 0,
                    f"The required section \"{section}\" is missing ({document_type.replace('_', ' ')}).",
                    f"Add a heading \"## {section}\"."))
    findings.sort(key=lambda f: (f["start"], f["end"], f["rule"], f["message"]))

    return {
        "document_type": document_type,
        "words": words,
        "sentences": textstat.sentence_count(text) if text else 0,
        "characters": characters,
        "reading_time_seconds": round(words * 60 / WORDS_PER_MINUTE),
        "words_per_minute": WORDS_PER_MINUTE,
        "readability": readability(text),
        "findings": findings,
        "truncated": len(analysed) < len(content),
        "analysed_characters": len(analysed),
        "total_characters": len(content),
        "style_guide_errors": guide_errors,
    }


def plain_text(content: str) -> str:
    """The text a reader sees in a Markdown document, as analyse counts and scores it.

    Markdown syntax, link targets, images, raw HTML and code blocks are dropped (inline code is kept: it
    is read as part of its sentence). Blocks are separated by a blank line, and a block without closing
    punctuation (a heading, a list item) gets a full stop, so textstat does not run it into the next one.
    """
    return _joined(_prose_blocks(content))


def _joined(blocks: list[_Block]) -> str:
    """Prose blocks as one text for textstat; see plain_text for the rule."""
    parts = []
    for block in blocks:
        block_text = "".join(block.text).strip()
        if block_text:
            parts.append(block_text if block_text[-1] in _TERMINAL_PUNCTUATION else block_text + ".")
    return "\n\n".join(parts)


def readability(text: str) -> dict:
    """textstat 0.7.13's English readability scores of plain text, to two decimals; None for each when it
    has no words.

    SMOG is only defined from three sentences on (textstat returns 0.0 below that), so it is None then.
    """
    names = ("flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index", "coleman_liau_index",
             "automated_readability_index", "dale_chall_readability_score", "difficult_words",
             "text_standard")
    if not text or not textstat.lexicon_count(text):
        return dict.fromkeys(names)
    scores = {name: round(getattr(textstat, name)(text), 2) for name in names if name != "text_standard"}
    scores["text_standard"] = textstat.text_standard(text, float_output=False)
    if textstat.sentence_count(text) < 3:
        scores["smog_index"] = None
    return scores


# --- prose blocks and their origin --------------------------------------------------------------------


def _cap(content: str) -> str:
    """The analysed prefix: at most MAX_ANALYSED_CHARACTERS, ended at a line break when one is near."""
    if len(content) <= MAX_ANALYSED_CHARACTERS:
        return content
    cut = content.rfind("\n", MAX_ANALYSED_CHARACTERS * 9 // 10, MAX_ANALYSED_CHARACTERS)
    return content[: cut + 1 if cut >= 0 else MAX_ANALYSED_CHARACTERS]


def _line_starts(content: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_BREAK.finditer(content)]


def _prose_blocks(content: str) -> list[_Block]:
    """Each inline run of the token stream outside code blocks, raw HTML and images, with every
    character's offset in `content`."""
    line_starts = _line_starts(content)
    blocks = []
    heading = False
    for token in _MARKDOWN.parse(content):
        if token.type == "heading_open":
            heading = True
        elif token.type == "heading_close":
            heading = False
        elif token.type == "inline" and token.map:
            begin = line_starts[token.map[0]]
            limit = line_starts[token.map[1]] if token.map[1] < len(line_starts) else len(content)
            blocks.append(_block(content, token.children or [], "heading" if heading else "text", begin, limit))
    return blocks


def _block(source: str, children: list, kind: str, cursor: int, limit: int) -> _Block:
    block = _Block(kind=kind)
    for child in children:
        # An image's alt text (its own children) is not read in the flow of the sentence, and raw HTML
        # is markup: neither is a text or code_inline child here, so both are skipped.
        if child.type in ("softbreak", "hardbreak"):
            block.text.append(" " if child.type == "softbreak" else "\n")
            block.offsets.append(min(cursor, max(limit - 1, 0)))
            continue
        if child.type not in ("text", "code_inline") or not child.content:
            continue
        offsets, cursor = _locate(source, child.content, cursor, limit)
        if child.type == "code_inline":
            block.code.append((len(block.offsets), len(block.offsets) + len(offsets)))
        block.text.append(child.content)
        block.offsets.extend(offsets)
    return block


def _locate(source: str, text: str, cursor: int, limit: int) -> tuple[list[int], int]:
    """Where each character of a run of `text` stands in `source`, searching forward from `cursor`.

    Most runs appear verbatim. Runs that markdown-it decoded (`&amp;`, `\\*`) are aligned character by
    character within a short window, so the search stays linear however many there are.
    """
    found = source.find(text, cursor, min(limit, cursor + len(text) * 10 + _FIRST_CHAR_WINDOW))
    if found >= 0:
        return list(range(found, found + len(text))), found + len(text)
    offsets = []
    window = _FIRST_CHAR_WINDOW
    for character in text:
        at = source.find(character, cursor, min(limit, cursor + window))
        if at >= 0:
            cursor = at + 1
        offsets.append(at if at >= 0 else min(cursor, max(limit - 1, 0)))
        window = _ALIGN_WINDOW
    return offsets, cursor


# --- style guide --------------------------------------------------------------------------------------


def _usable_style_guide(style_guide) -> tuple[dict, list[str]]:
    """The entries of a style guide that can be applied, and what is wrong with the rest.

    Each entry is checked on its own, so one bad phrase costs that phrase, not the whole guide.
    """
    if style_guide is None:
        return {}, []
    if not isinstance(style_guide, dict):
        return {}, [f"(style guide): expected an object, got {type(style_guide).__name__}"]
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(style guide)'}: {e.message}"
              for e in sorted(_STYLE_GUIDE_VALIDATOR.iter_errors(style_guide), key=lambda e: list(map(str, e.path)))]

    def phrase(value) -> str | None:
        return value.strip() if isinstance(value, str) and value.strip() and len(value) <= 200 else None

    def phrases(values) -> list[str]:
        values = values if isinstance(values, list) else []
        return [p for p in map(phrase, values[:MAX_STYLE_GUIDE_ENTRIES]) if p]

    guide: dict = {"banned_phrases": [], "preferred_phrases": {}, "required_sections": {}}
    banned = style_guide.get("banned_phrases")
    for entry in (banned if isinstance(banned, list) else [])[:MAX_STYLE_GUIDE_ENTRIES]:
        if isinstance(entry, dict) and phrase(entry.get("phrase")):
            suggestion = entry.get("suggestion")
            guide["banned_phrases"].append((phrase(entry["phrase"]), suggestion if isinstance(suggestion, str) else ""))
        elif phrase(entry):
            guide["banned_phrases"].append((phrase(entry), ""))
    preferred = style_guide.get("preferred_phrases")
    for found, instead in list(preferred.items() if isinstance(preferred, dict) else [])[:MAX_STYLE_GUIDE_ENTRIES]:
        if phrase(found) and isinstance(instead, str):
            guide["preferred_phrases"][phrase(found)] = instead
    sections = style_guide.get("required_sections")
    for document_type, headings in (sections.items() if isinstance(sections, dict) else []):
        guide["required_sections"][document_type] = phrases(headings)
    limit = style_guide.get("max_sentence_words")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
        guide["max_sentence_words"] = limit
    tone = style_guide.get("tone_words")
    tone = tone if isinstance(tone, dict) else {}
    guide["tone_avoid"], guide["tone_prefer"] = phrases(tone.get("avoid")), phrases(tone.get("prefer"))
    return guide, errors


def _phrase_rules(guide: dict):
    """(rule, severity, phrase, message, suggestion) for every phrase the guide looks for; a phrase listed
    twice under one rule is looked for once, so it is reported once."""
    seen = set()
    for rule in _phrase_rules_listed(guide):
        if (rule[0], rule[2].casefold()) not in seen:
            seen.add((rule[0], rule[2].casefold()))
            yield rule


def _phrase_rules_listed(guide: dict):
    for banned, suggestion in guide.get("banned_phrases", []):
        yield ("banned_phrase", "warning", banned, "\"{found}\" is on the style guide's banned list.",
               f"Use \"{suggestion}\" instead." if suggestion else "Rephrase without it.")
    for found, instead in guide.get("preferred_phrases", {}).items():
        yield ("preferred_phrase", "info", found, "The style guide spells \"{found}\" differently.",
               f"Write \"{instead}\".")
    prefer = guide.get("tone_prefer", [])
    for word in guide.get("tone_avoid", []):
        yield ("tone", "info", word, "\"{found}\" is a word the style guide's tone avoids.",
               "Prefer: " + ", ".join(f"\"{p}\"" for p in prefer[:5]) + "." if prefer else "Leave it out.")


def _phrase_pattern(phrase: str) -> re.Pattern:
    """Whole words, any case; the words of a phrase may be separated by any run of whitespace (a line
    break in the source is a space to the reader)."""
    body = r"\s+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _heading_key(heading: str) -> str:
    """A heading as required sections compare it: any case, spacing, section number or closing colon."""
    heading = " ".join(heading.split()).rstrip(":.").strip()
    return _SECTION_NUMBER.sub("", heading).casefold()


def _long_sentences(content: str, line_starts: list[int], blocks: list[_Block], max_words: int) -> list[dict]:
    findings = []
    for block in blocks:
        block_text = "".join(block.text)
        start = 0
        ends = [m.end() for m in _SENTENCE_END.finditer(block_text)] + [len(block_text)]
        for end in ends:
            sentence = block_text[start:end]
            lead = len(sentence) - len(sentence.lstrip())
            count = len(_WORD.findall(sentence))
            if count > max_words:
                first, last = start + lead, start + len(sentence.rstrip())
                span_start, span_end = block.offsets[first], block.offsets[last - 1] + 1
                findings.append(_finding(
                    content, line_starts, "long_sentence", "warning", span_start, span_end,
                    f"This sentence has {count} words; the style guide's limit is {max_words}.",
                    "Split it into shorter sentences."))
            start = end
    return findings


def _finding(content: str, line_starts: list[int], rule: str, severity: str, start: int, end: int,
             message: str, suggestion: str) -> dict:
    line = bisect.bisect_right(line_starts, start)
    return {
        "rule": rule,
        "severity": severity,
        "message": message,
        "start": start,
        "end": end,
        "line": line,
        "column": start - line_starts[line - 1] + 1,
        "excerpt": _excerpt(content, start, end),
        "suggestion": suggestion,
    }


def _excerpt(content: str, start: int, end: int) -> str:
    """The span with a little context from its own lines either side, on one line, clipped with an ellipsis."""
    if start == end:
        return ""
    end = min(end, start + 120)
    line_start = content.rfind("\n", 0, start) + 1
    line_end = content.find("\n", end)
    line_end = len(content) if line_end < 0 else line_end
    before, after = max(line_start, start - EXCERPT_CONTEXT), min(line_end, end + EXCERPT_CONTEXT)
    text = " ".join(content[before:after].split())
    return ("…" if before > line_start else "") + text + ("…" if after < line_end else "")
