"""`agent.run`: a model works towards `instructions` with tools, each call governed (emma.agent)."""

import uuid

from emma import agent, llm, registry
from emma.registry import task_type
from governance.summaries import quoted

CONTEXT = {"type": "object", "additionalProperties": False, "properties": {
    "memory_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 20},
    "session_id": {"type": "string", "minLength": 1, "maxLength": 128}}}


def _schema() -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["instructions"], "properties": {
        "instructions": {"type": "string", "minLength": 1, "maxLength": 20000},
        "tools": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 50},
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
        "max_steps": {"type": "integer", "minimum": 1, "maximum": 100},
        "max_cost": {"type": "number", "minimum": 0},
        "context": CONTEXT}}


def _check(parameters: dict) -> dict[str, list[str]]:
    """What the schema cannot say: the tools must exist, the memory ids must be ids."""
    errors = {}
    unknown = sorted(set(parameters.get("tools") or []) - {tool.name for tool in registry.tools()})
    if unknown:
        errors["tools"] = [f"Unknown tool(s): {', '.join(unknown)}; see GET /api/task-types (tool: true)."]
    for memory_id in (parameters.get("context") or {}).get("memory_ids") or []:
        try:
            uuid.UUID(memory_id)
        except ValueError:
            errors.setdefault("context.memory_ids", []).append(f"{memory_id!r} is not a memory id.")
    return errors


@task_type("agent.run", risk="medium", schema=_schema(), default_cost="0.50", time_limit=600, max_attempts=3,
           unavailable=llm.configured, check=_check,
           headline=lambda a: f"start an agent run: {quoted(a['instructions'])}",
           summary_template="emma/summaries/agent_run.html",
           description="An LLM agent works towards `instructions` with `tools` (default: every tool); every tool "
                       "call passes the tenant's policy (rules may name `tool:<name>`), and an escalated call "
                       "pauses the run until a person decides. `max_steps` (20) model turns, `max_cost` in "
                       "the price table's currency, `context`: memory ids or a working-memory session.")
def run(ctx, parameters):
    return agent.agent_run(ctx, parameters)
