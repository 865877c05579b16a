"""Built-in task types. Importing this package registers them (EmmaConfig.ready)."""

from emma.task_types import diagnostic, webhook  # noqa: F401
