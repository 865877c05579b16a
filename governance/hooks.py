"""How governance sets off work in the layers above it without importing them.

Those layers register their handlers at start-up (AppConfig.ready); governance calls them after the
transaction that opened or closed an escalation commits, so a handler never sees a change that could
still roll back, and a failing handler never undoes a decision. What must not be lost when a process
dies right after the commit is made up by a sweep of the layer that owns it (emma settles tasks whose
escalation closed; see `emma.services.tasks_settle_closed_escalations`)."""

import enum
from collections.abc import Callable

from django.db import transaction

from core.hooks import call_each


class EscalationOutcome(enum.StrEnum):
    """How an escalation chain ended, as its task sees it."""

    APPROVED = "approved"  # by a person, or by the policy's default at the last deadline
    REJECTED = "rejected"  # by a person
    EXPIRED = "expired"  # no decision before the last deadline, and the default is to reject
    WITHDRAWN = "withdrawn"  # the task was cancelled before anyone decided
    REPLIED = "replied"  # an agent's tool call: the approver answered with a message instead


_closed: list[Callable] = []
_opened: list[Callable] = []
_voted: list[Callable] = []
_reminded: list[Callable] = []
_delegated: list[Callable] = []
_task_history: list[Callable] = []
_run_transcript: list[Callable] = []


def register_on_escalation_closed(handler: Callable) -> None:
    """handler(escalation, outcome: EscalationOutcome), after the closing transaction committed."""
    if handler not in _closed:
        _closed.append(handler)


def register_on_escalation_opened(handler: Callable) -> None:
    """handler(escalation) after an escalation opened or moved to a new tier (to notify its approvers)."""
    if handler not in _opened:
        _opened.append(handler)


def register_on_escalation_voted(handler: Callable) -> None:
    """handler(escalation, vote) after one approver's answer that did not yet decide (a quorum's "1 of 2")."""
    if handler not in _voted:
        _voted.append(handler)


def register_on_escalation_reminder(handler: Callable) -> None:
    """handler(escalation) when its approvers who have not answered are to be reminded (once per tier)."""
    if handler not in _reminded:
        _reminded.append(handler)


def register_on_delegation_started(handler: Callable) -> None:
    """handler(delegation) after a delegation that starts at once was saved (to tell the delegate what waits)."""
    if handler not in _delegated:
        _delegated.append(handler)


def register_task_history(provider: Callable) -> None:
    """provider(tenant_id, task_id) -> the task's status history, shown on the escalation's admin page."""
    if provider not in _task_history:
        _task_history.append(provider)


def register_run_transcript(provider: Callable) -> None:
    """provider(tenant_id, task_id) -> an agent run's steps so far, shown on a tool call's escalation page."""
    if provider not in _run_transcript:
        _run_transcript.append(provider)


def escalation_closed(escalation, outcome: EscalationOutcome) -> None:
    """Run the closed handlers once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: call_each(_closed, escalation, EscalationOutcome(outcome)))


def escalation_opened(escalation) -> None:
    transaction.on_commit(lambda: call_each(_opened, escalation))


def escalation_voted(escalation, vote) -> None:
    transaction.on_commit(lambda: call_each(_voted, escalation, vote))


def escalation_reminder(escalation) -> None:
    transaction.on_commit(lambda: call_each(_reminded, escalation))


def delegation_started(delegation) -> None:
    transaction.on_commit(lambda: call_each(_delegated, delegation))


def task_history(*, tenant_id: int, task_id) -> list:
    return [row for provider in _task_history for row in provider(tenant_id=tenant_id, task_id=task_id)]


def run_transcript(*, tenant_id: int, task_id) -> list:
    return [row for provider in _run_transcript for row in provider(tenant_id=tenant_id, task_id=task_id)]
