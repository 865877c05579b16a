"""Built-in task types. Importing this package registers them (EmmaConfig.ready)."""

from emma.task_types import diagnostic, research, webhook  # noqa: F401
