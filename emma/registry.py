"""The registry of task types and tools: what each does and what governance needs to know of it.

One registry for both: a task type may be submitted as a task, offered to agents as a tool, or both
(`webhook.post` is both; `memory_search` is a tool only; `agent.run` is a task only).

    @task_type("diagnostic.echo", risk="low", schema={...})
    def echo(ctx, parameters): ...

    @task_type("memory_search", risk="low", schema={...}, task=False, tool=True,
               headline=lambda a: f"search the memory for “{a['query']}”")
    def memory_search(ctx, arguments): ...

`headline` (and `summary_template`) say in words what a call will do, for the approval screens
(governance.summaries).

A handler gets a context with `task_id`, `tenant_id`, `correlation_id`, `idempotency_key` (the task's id,
or the agent run's id and step for a tool call: whatever it sends out carries it) and `check_cancelled()`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import jsonschema

from governance.policy import RISK_LEVELS
from governance.summaries import register_summary


class RetryableError(Exception):
    """A handler raises this for a failure worth another try (a timeout, a 5xx from a provider)."""


class TaskCancelled(Exception):
    """Raised by TaskContext.check_cancelled() when the task was cancelled while running."""


class TaskStopped(Exception):
    """A handler ends its task without a result, for a reason a person should read (an agent run that
    reached max_steps, max_cost or the hard limit, or that an approver stopped): the task fails with it."""


class TaskPaused(Exception):
    """A handler (an agent run) waits for a person's decision on `escalation_id`: the task leaves its
    worker as `waiting_for_approval` and is queued again when the escalation closes."""

    def __init__(self, escalation_id):
        super().__init__(f"waiting for escalation {escalation_id}")
        self.escalation_id = escalation_id


@dataclass(frozen=True)
class TaskType:
    name: str
    handler: Callable
    risk: str
    external_side_effects: bool
    default_cost: Decimal
    schema: dict
    time_limit: int
    max_attempts: int
    description: str = ""
    # Some types change their risk with the configuration (research sends data out once an LLM is set).
    risk_for: Callable[[], tuple[str, bool]] | None = field(default=None, compare=False)
    # The side effect's receipt in a successful result (an HTTP status, a provider's message id), for the audit.
    receipt: Callable[[dict], dict] | None = field(default=None, compare=False)
    as_task: bool = True  # may be submitted as a task
    as_tool: bool = False  # offered to agents as a tool
    # Why it cannot be used in this deployment now (a missing setting), or None.
    unavailable: Callable[[], str | None] | None = field(default=None, compare=False)
    # Rules past the JSON Schema (names that must exist): errors keyed like validate()'s.
    check: Callable[[dict], dict[str, list[str]]] | None = field(default=None, compare=False)
    # Where a task of this type is asked for when only its own app submits it (drafting.publish: "POST
    # /api/drafts/{id}/publish"); such a type is refused by POST /api/tasks and left out of its schema.
    submitted_through: str = ""

    def unavailable_reason(self) -> str | None:
        return self.unavailable() if self.unavailable else None

    def receipt_of(self, result) -> dict | None:
        try:
            return self.receipt(result) if self.receipt and isinstance(result, dict) else None
        except (KeyError, TypeError):
            return None

    def current_risk(self) -> tuple[str, bool]:
        return self.risk_for() if self.risk_for else (self.risk, self.external_side_effects)

    def validate(self, parameters) -> dict[str, list[str]]:
        """Errors keyed by the parameter they concern ('' for the whole object)."""
        validator = jsonschema.Draft202012Validator(self.schema)
        errors: dict[str, list[str]] = {}
        for error in sorted(validator.iter_errors(parameters), key=lambda e: list(e.path)):
            where = ".".join(str(part) for part in error.path)
            if not where and error.validator == "additionalProperties":
                extra = sorted(set(parameters) - set(self.schema.get("properties", {})))
                for name in extra:
                    errors.setdefault(name, []).append("Unknown parameter.")
                continue
            if not where and error.validator == "required":
                where = error.message.split("'")[1] if "'" in error.message else ""
            errors.setdefault(where, []).append(error.message)
        if not errors and self.check:
            errors.update(self.check(parameters))
        return errors


_registry: dict[str, TaskType] = {}


def task_type(name: str, *, risk: str, schema: dict, external_side_effects: bool = False, default_cost=0,
              time_limit: int = 60, max_attempts: int = 3, description: str = "", risk_for=None, receipt=None,
              task: bool = True, tool: bool = False, unavailable=None, check=None, headline=None,
              summary_template: str | None = None, submitted_through: str = ""):
    """Register a handler `handler(ctx, parameters) -> JSON-serialisable result`, as a task type
    (`task`), a tool agents may call (`tool`), or both."""
    if risk not in RISK_LEVELS:
        raise ValueError(f"risk must be one of {RISK_LEVELS}")
    jsonschema.Draft202012Validator.check_schema(schema)

    def register(handler):
        _registry[name] = TaskType(name=name, handler=handler, risk=risk, external_side_effects=external_side_effects,
                                   default_cost=Decimal(str(default_cost)), schema=schema, time_limit=time_limit,
                                   max_attempts=max_attempts, description=description or (handler.__doc__ or "").strip(),
                                   risk_for=risk_for, receipt=receipt, as_task=task, as_tool=tool,
                                   unavailable=unavailable, check=check, submitted_through=submitted_through)
        if headline is not None:
            register_summary(name, headline=headline, template=summary_template)
        return handler

    return register


def get(name: str) -> TaskType | None:
    """A task type by name (None for an unknown name or a tool that is not a task type)."""
    spec = _registry.get(name)
    return spec if spec is not None and spec.as_task else None


def get_tool(name: str) -> TaskType | None:
    spec = _registry.get(name)
    return spec if spec is not None and spec.as_tool else None


def all_types() -> list[TaskType]:
    return sorted((t for t in _registry.values() if t.as_task), key=lambda t: t.name)


def tools() -> list[TaskType]:
    return sorted((t for t in _registry.values() if t.as_tool), key=lambda t: t.name)
