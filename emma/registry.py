"""The task-type registry: what each agent task type does and what governance needs to know of it.

    @task_type("diagnostic.echo", risk="low", schema={...})
    def echo(ctx, parameters): ...
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import jsonschema

from governance.policy import RISK_LEVELS


class RetryableError(Exception):
    """A handler raises this for a failure worth another try (a timeout, a 5xx from a provider)."""


class TaskCancelled(Exception):
    """Raised by TaskContext.check_cancelled() when the task was cancelled while running."""


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
        return errors


_registry: dict[str, TaskType] = {}


def task_type(name: str, *, risk: str, schema: dict, external_side_effects: bool = False, default_cost=0,
              time_limit: int = 60, max_attempts: int = 3, description: str = "", risk_for=None, receipt=None):
    """Register a handler `handler(ctx, parameters) -> JSON-serialisable result`."""
    if risk not in RISK_LEVELS:
        raise ValueError(f"risk must be one of {RISK_LEVELS}")
    jsonschema.Draft202012Validator.check_schema(schema)

    def register(handler):
        _registry[name] = TaskType(name=name, handler=handler, risk=risk, external_side_effects=external_side_effects,
                                   default_cost=Decimal(str(default_cost)), schema=schema, time_limit=time_limit,
                                   max_attempts=max_attempts, description=description or (handler.__doc__ or "").strip(),
                                   risk_for=risk_for, receipt=receipt)
        return handler

    return register


def get(name: str) -> TaskType | None:
    return _registry.get(name)


def all_types() -> list[TaskType]:
    return sorted(_registry.values(), key=lambda t: t.name)
