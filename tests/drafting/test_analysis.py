"""drafting.analysis: counts and scores of what a reader sees, style-guide findings at the writer's offsets."""

import time

import jsonschema
import pytest
import textstat

from drafting.analysis import MAX_ANALYSED_CHARACTERS, STYLE_GUIDE_SCHEMA, WORDS_PER_MINUTE, analyse, plain_text

PROSE = (
    "The quick brown fox jumps over the lazy dog. It was not amused by the interruption.\n\n"
    "Readability formulas weigh sentence length against word length. Shorter sentences usually read faster."
)

GUIDE = {
    "banned_phrases": [{"phrase": "utilize", "suggestion": "use"}, "going forward"],
    "preferred_phrases": {"e-mail": "email"},
    "required_sections": {"incident_report": ["Summary", "Impact", "Timeline", "Root cause"]},
    "max_sentence_words": 12,
    "tone_words": {"avoid": ["obviously", "simply"], "prefer": ["clearly"]},
}


def findings_of(result, rule):
    return [f for f in result["findings"] if f["rule"] == rule]


def test_counts_and_scores_of_plain_prose_are_textstats():
    result = analyse(PROSE)

    assert plain_text(PROSE) == PROSE
    assert result["words"] == textstat.lexicon_count(PROSE)
    assert result["sentences"] == textstat.sentence_count(PROSE)
    assert result["characters"] == len(PROSE) - len("\n\n")
    assert result["reading_time_seconds"] == round(textstat.lexicon_count(PROSE) * 60 / WORDS_PER_MINUTE)
    scores = result["readability"]
    for name in ("flesch_reading_ease", "flesch_kincaid_grade", "gunning_fog", "smog_index", "coleman_liau_index",
                 "automated_readability_index", "dale_chall_readability_score", "difficult_words"):
        assert scores[name] == round(getattr(textstat, name)(PROSE), 2), name
    assert scores["text_standard"] == textstat.text_standard(PROSE, float_output=False)
    assert result["truncated"] is False
    assert result["findings"] == [] and result["style_guide_errors"] == []


def test_markdown_syntax_is_not_counted_as_words():
    markdown = (
        "# Fox facts\n\n"
        "The **quick** brown _fox_ jumps over [the lazy dog](https://example.com/a-very/long/path).\n\n"
        "- It was `not` amused.\n"
        "- ![a picture of many words](pic.png) Really.\n\n"
        "```\nthese code words are not prose at all\n```\n\n"
        "| Col |\n|-----|\n| cell |\n"
    )
    reader_sees = ("Fox facts.\n\nThe quick brown fox jumps over the lazy dog.\n\nIt was not amused.\n\n"
                   "Really.\n\nCol.\n\ncell.")

    assert plain_text(markdown) == reader_sees
    result = analyse(markdown)
    assert result["words"] == textstat.lexicon_count(reader_sees) == len(reader_sees.split())
    assert result["readability"]["flesch_reading_ease"] == round(textstat.flesch_reading_ease(reader_sees), 2)


def test_empty_document_has_no_words_and_no_scores():
    result = analyse("")

    assert (result["words"], result["sentences"], result["characters"], result["reading_time_seconds"]) == (0, 0, 0, 0)
    assert set(result["readability"].values()) == {None}


def test_phrase_findings_point_at_the_phrase_in_the_original_markdown():
    content = (
        "# Notes\n\n"
        "We will **utilize** the relay.\n"
        "Send an E-mail &amp; obviously [Utilize](https://example.com/utilize) it.\n\n"
        "Going\nforward, `utilize` in code is fine.\n\n"
        "```\nutilize\n```\n"
    )
    result = analyse(content, style_guide=GUIDE)

    banned = findings_of(result, "banned_phrase")
    assert [content[f["start"]:f["end"]] for f in banned] == ["utilize", "Utilize", "Going\nforward"]
    first = banned[0]
    assert (first["line"], first["column"], first["severity"]) == (3, 11, "warning")
    assert first["suggestion"] == 'Use "use" instead.'
    assert "**utilize**" in first["excerpt"]
    assert banned[1]["line"] == 4 and content.splitlines()[3][banned[1]["column"] - 1:].startswith("Utilize")

    preferred, = findings_of(result, "preferred_phrase")
    assert content[preferred["start"]:preferred["end"]] == "E-mail" and "email" in preferred["suggestion"]
    tone, = findings_of(result, "tone")
    assert content[tone["start"]:tone["end"]] == "obviously" and "clearly" in tone["suggestion"]
    assert set(first) == {"rule", "severity", "message", "start", "end", "line", "column", "excerpt", "suggestion"}


def test_phrases_match_whole_words_only():
    content = "Utilized and reutilize are different words; utilize_it too; utilize is the banned one."

    result = analyse(content, style_guide=GUIDE)

    assert [f["start"] for f in findings_of(result, "banned_phrase")] == [content.index("; utilize is") + 2]


def test_required_sections_are_headings_of_any_level_in_any_case():
    content = "# Incident\n\n## summary\n\nAll good.\n\n### TIMELINE\n\nNoon.\n\nRoot cause\n----------\n"

    result = analyse(content, document_type="incident_report", style_guide=GUIDE)

    missing, = findings_of(result, "required_section")
    assert (missing["start"], missing["end"], missing["line"], missing["column"]) == (0, 0, 1, 1)
    assert missing["severity"] == "error" and '"Impact"' in missing["message"]
    assert missing["suggestion"] == 'Add a heading "## Impact".'
    assert findings_of(analyse(content, document_type="free", style_guide=GUIDE), "required_section") == []


def test_a_section_named_only_in_prose_is_still_missing():
    content = "# Summary\n\nImpact\n\nTimeline: noon. Root cause: a typo.\n"

    result = analyse(content, document_type="incident_report", style_guide=GUIDE)

    assert sorted(f["message"] for f in findings_of(result, "required_section")) == [
        f'The required section "{section}" is missing (incident report).'
        for section in ("Impact", "Root cause", "Timeline")]


def test_long_sentences_are_flagged_with_their_span():
    long_sentence = ("This sentence keeps going with one clause after another until it has "
                     "far more than twelve words in it.")
    content = f"Short one here. {long_sentence} Another short one.\n"

    result = analyse(content, style_guide=GUIDE)

    flagged, = findings_of(result, "long_sentence")
    assert content[flagged["start"]:flagged["end"]] == long_sentence
    assert f"{len(long_sentence.split())} words" in flagged["message"] and "limit is 12" in flagged["message"]
    assert findings_of(analyse(content), "long_sentence") == []


def test_style_guide_schema_is_valid_draft_2020_12_and_accepts_the_documented_guide():
    jsonschema.Draft202012Validator.check_schema(STYLE_GUIDE_SCHEMA)
    jsonschema.Draft202012Validator(STYLE_GUIDE_SCHEMA).validate(GUIDE)
    jsonschema.Draft202012Validator(STYLE_GUIDE_SCHEMA).validate({"banned_phrases": ["utilize"]})


@pytest.mark.parametrize("guide", [
    "not a dict",
    ["utilize"],
    {"banned_phrases": "utilize"},
    {"banned_phrases": [None, 3, {"suggestion": "x"}, {"phrase": ""}, "   ", {"phrase": ["x"]}]},
    {"preferred_phrases": ["e-mail"], "required_sections": {"incident_report": "Summary"}},
    {"required_sections": ["Summary"], "max_sentence_words": "thirty", "tone_words": ["obviously"]},
    {"max_sentence_words": 0, "tone_words": {"avoid": "obviously", "prefer": None}},
    {"max_sentence_words": True, "preferred_phrases": {"e-mail": 5}},
])
def test_invalid_style_guide_is_reported_not_raised(guide):
    result = analyse("# Summary\n\nObviously we utilize e-mail.\n", document_type="incident_report", style_guide=guide)

    assert result["findings"] == []
    assert result["style_guide_errors"]
    assert result["words"] == textstat.lexicon_count("Summary.\n\nObviously we utilize e-mail.")


def test_valid_entries_of_a_partly_invalid_style_guide_still_apply():
    result = analyse("We utilize e-mail.", style_guide={"banned_phrases": ["utilize", 42], "bogus": True})

    assert [f["rule"] for f in result["findings"]] == ["banned_phrase"]
    assert len(result["style_guide_errors"]) == 2


def test_a_document_over_the_cap_is_analysed_up_to_the_cap_and_says_so():
    paragraph = "The relay failed at noon and we utilize a fallback. " * 20 + "\n\n"
    content = paragraph * (10_000_000 // len(paragraph) + 1)

    started = time.perf_counter()
    result = analyse(content, style_guide={"banned_phrases": ["utilize"]})
    elapsed = time.perf_counter() - started

    print(f"\nanalysis of {len(content):,} characters (capped at {MAX_ANALYSED_CHARACTERS:,}): {elapsed * 1000:.0f} ms")
    assert result["truncated"] is True
    assert result["total_characters"] == len(content)
    assert 0.9 * MAX_ANALYSED_CHARACTERS <= result["analysed_characters"] <= MAX_ANALYSED_CHARACTERS
    assert max(f["end"] for f in result["findings"]) <= result["analysed_characters"]
    assert result["words"] < 20_000


def test_a_required_section_beyond_the_cap_is_not_reported_missing():
    content = "# Summary\n\n" + ("Filler words here. " * 50 + "\n\n") * 12_000 + "## Impact\n\nNone.\n"

    result = analyse(content, document_type="incident_report",
                     style_guide={"required_sections": {"incident_report": ["Summary", "Impact"]}})

    assert result["truncated"] is True
    assert findings_of(result, "required_section") == []


def test_analysis_time_of_a_2000_word_document_is_measured():
    sentences = [
        "The on-call engineer acknowledged the page within four minutes of the first alert.",
        "We simply rolled back the deployment, and latency returned to normal shortly after.",
        "Obviously the retry budget was too generous for a dependency that was already failing under load.",
        "Customers saw elevated error rates on checkout for roughly nineteen minutes.",
    ]
    body = []
    while sum(len(s.split()) for s in body) < 2000:
        body.append(sentences[len(body) % len(sentences)])
    content = "# Incident report\n\n## Summary\n\n" + "\n\n".join(
        " ".join(body[i:i + 5]) for i in range(0, len(body), 5)) + "\n"

    analyse("warm up: imports and dictionaries load once per process")
    started = time.perf_counter()
    result = analyse(content, document_type="incident_report", style_guide=GUIDE)
    elapsed = time.perf_counter() - started

    print(f"\nanalysis of a {result['words']}-word document: {elapsed * 1000:.0f} ms,"
          f" {len(result['findings'])} findings")
    assert result["words"] >= 2000
