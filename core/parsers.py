from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, also refusing what PostgreSQL cannot store (NUL characters) and nesting
    deep enough to exhaust the parser, as 400s rather than errors further down."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.")
        if _has_nul(data):
            raise ParseError("JSON parse error - NUL characters (\\u0000) are not accepted.")
        return data
