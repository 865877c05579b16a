"""Built-in task types and tools. Importing this package registers them (EmmaConfig.ready)."""

from emma.task_types import agent, diagnostic, research, tools, webhook  # noqa: F401
