import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(data, *, finite: bool = True) -> str | None:
    """Why PostgreSQL could not store this parsed JSON (as text or jsonb), or None: a NUL character, a
    surrogate that JSON's escapes (\\ud800) let through unpaired (no UTF-8 has it), or, with `finite`,
    a number beyond a double (1e400 parses as infinity, which jsonb has no form for)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL characters (\\u0000) are not accepted."
            if SURROGATE.search(item):
                return "Unpaired surrogates (\\ud800 to \\udfff) are not accepted."
        elif isinstance(item, float):
            if finite and not math.isfinite(item):
                return "Numbers must be finite."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, also refusing what PostgreSQL cannot store (unstorable) and nesting deep
    enough to exhaust the parser, as 400s rather than errors further down. Not `strict`: NaN and
    infinities pass, for a view whose own check names what it expects instead."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.")
        refusal = unstorable(data, finite=self.strict)
        if refusal:
            raise ParseError(f"JSON parse error - {refusal}")
        return data
