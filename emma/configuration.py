"""The tenant's `llm` configuration document (core.configuration), read by the agent loop (emma.agent):

    model             the model its agent runs use when a run names none (default: LLM_MODEL)
    prices            {model: {input, output, cached}} in USD per million tokens, over the deployment's LLM_PRICES
                      for this tenant's runs (what a run costs, and so where max_cost stops it)
    max_cost_per_run  the most one agent run may spend (null: no limit of the tenant's own); a run's own max_cost
                      can only be lower"""

from django.conf import settings

from core.configuration import Document
from core.configuration.selectors import config_current

NAME = "llm"
PRICE = {"type": "number", "minimum": 0, "maximum": 1_000_000}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
        "prices": {"type": "object", "maxProperties": 100, "propertyNames": {"minLength": 1, "maxLength": 200},
                   "additionalProperties": {"type": "object", "additionalProperties": False, "required": ["input"],
                                            "properties": {"input": PRICE, "output": PRICE, "cached": PRICE}}},
        "max_cost_per_run": {"type": ["number", "null"], "minimum": 0},
    },
}


def defaults() -> dict:
    return {"model": settings.LLM_MODEL, "prices": {}, "max_cost_per_run": None}


def document() -> Document:
    return Document(NAME, schema=SCHEMA, defaults=defaults, title="Language model",
                    description="The model agent runs use, price overrides and the most one run may spend.")


def current(tenant_id: int) -> dict:
    return config_current(tenant_id=tenant_id, document=NAME)[0]
