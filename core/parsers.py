import codecs
import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

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


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict, refusing a key given twice: json would keep the last value silently while
    a proxy or a check in front of Emma may have read the first, so the two would act on different
    requests (RFC 8259 leaves duplicate names undefined; I-JSON, RFC 7493, forbids them)."""
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} appears twice in one object.")
        data[key] = value
    return data


def strict_json(text: str, *, strict_constants: bool = True):
    """JSON as Emma accepts it anywhere (the API's bodies, the admin's arguments box): nothing PostgreSQL
    cannot store (unstorable), no nesting deep enough to exhaust the parser, no key given twice.
    Raises ValueError saying which."""
    try:
        data = json.loads(text, parse_constant=json.strict_constant if strict_constants else None,
                          object_pairs_hook=_object_without_duplicate_keys)
    except RecursionError:
        raise ValueError("nested too deeply.") from None
    refusal = unstorable(data, finite=strict_constants)
    if refusal:
        raise ValueError(refusal)
    return data


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with strict_json's rules, each a 400 rather than an error further down (or, for
    duplicate keys, a value chosen silently)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            return strict_json(codecs.getreader(encoding)(stream).read(), strict_constants=self.strict)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
