"""The tenant's `drafting` configuration document (core.configuration):

    style_guide        the house style drafting.analysis checks drafts against (STYLE_GUIDE_SCHEMA)
    templates_allowed  the templates new drafts may start from, by name or id; empty: every template
    assist_enabled     whether people may ask an agent to write or revise a draft (POST .../assist)"""

from core.configuration import Document
from core.configuration.selectors import config_current
from drafting.analysis import STYLE_GUIDE_SCHEMA

NAME = "drafting"
MAX_TEMPLATES_ALLOWED = 500

# The style guide's own schema, embedded: its "$defs" move to the document's root, where its "#/$defs/..."
# references resolve.
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "$defs": STYLE_GUIDE_SCHEMA["$defs"],
    "properties": {
        "style_guide": {key: value for key, value in STYLE_GUIDE_SCHEMA.items() if key not in ("$schema", "$defs")},
        "templates_allowed": {
            "description": "Templates new drafts may start from: names or ids. Empty: every template.",
            "type": "array", "maxItems": MAX_TEMPLATES_ALLOWED, "uniqueItems": True,
            "items": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 100},
                                {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}]}},
        "assist_enabled": {"description": "People may ask an agent to write or revise a draft.",
                           "type": "boolean"},
    },
}


def defaults() -> dict:
    return {"style_guide": {}, "templates_allowed": [], "assist_enabled": True}


def document() -> Document:
    return Document(NAME, schema=SCHEMA, defaults=defaults, title="Drafting",
                    description="The house style drafts are checked against, the templates new drafts may start "
                                "from, and whether agents may help write them.")


# --- what the rest of the app reads -----------------------------------------------------------------


def current(tenant_id: int) -> dict:
    return config_current(tenant_id=tenant_id, document=NAME)[0]


def style_guide(tenant_id: int) -> dict:
    return current(tenant_id).get("style_guide") or {}


def template_allowed(tenant_id: int, template) -> bool:
    """Whether new drafts may start from the template (named or numbered in templates_allowed, or the list is
    empty)."""
    allowed = current(tenant_id).get("templates_allowed") or []
    return not allowed or template.name in allowed or template.pk in allowed


def assist_enabled(tenant_id: int) -> bool:
    return bool(current(tenant_id).get("assist_enabled", True))
