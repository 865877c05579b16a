import codecs

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json


def _has_nul(data) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict, refusing a key given twice: json would keep the last value silently while
    a proxy or a check in front of Emma may have read the first, so the two would act on different
    requests (RFC 8259 leaves duplicate names undefined; I-JSON, RFC 7493, forbids them)."""
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} appears twice in one object")
        data[key] = value
    return data


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, also refusing what PostgreSQL cannot store (NUL characters), nesting deep
    enough to exhaust the parser, and duplicate keys in an object, as 400s rather than errors further
    down (or, for duplicates, a value chosen silently)."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's JSONParser.parse, with the object hook: it has no other way to pass one to json.load.
        encoding = get_encoding(parser_context or {})
        try:
            data = json.load(codecs.getreader(encoding)(stream),
                             parse_constant=json.strict_constant if self.strict else None,
                             object_pairs_hook=_object_without_duplicate_keys)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.")
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
        if _has_nul(data):
            raise ParseError("JSON parse error - NUL characters (\\u0000) are not accepted.")
        return data
