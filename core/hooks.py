"""How a lower floor calls the handlers a higher floor registered with it (governance's escalation
hooks, emma's task hooks): each one, in order, none able to stop the others."""

import logging

logger = logging.getLogger(__name__)


def call_each(handlers, *args, **kwargs) -> None:
    for handler in handlers:
        try:
            handler(*args, **kwargs)
        except Exception:  # one handler's failure must not keep the others from running
            logger.exception("hook %s failed", getattr(handler, "__qualname__", handler))
