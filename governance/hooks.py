"""How governance sets off work in the layer above it without importing it.

The task layer registers its handlers at start-up (AppConfig.ready); governance calls them by name."""

from collections.abc import Callable

_escalation_decided: list[Callable] = []
_escalation_opened: list[Callable] = []


def register_on_escalation_decided(handler: Callable) -> None:
    """handler(escalation, outcome) with outcome 'approved' or 'rejected', inside the deciding transaction."""
    if handler not in _escalation_decided:
        _escalation_decided.append(handler)


def register_on_escalation_opened(handler: Callable) -> None:
    """handler(escalation) when an escalation opens or moves to a new tier (to notify its approvers)."""
    if handler not in _escalation_opened:
        _escalation_opened.append(handler)


def on_escalation_decided(escalation, outcome: str) -> None:
    for handler in _escalation_decided:
        handler(escalation, outcome)


def on_escalation_opened(escalation) -> None:
    for handler in _escalation_opened:
        handler(escalation)
