"""The agent task lifecycle: submit (with the governance decision), run, retry, cancel, recover.

Every status change is a conditional UPDATE on the expected status, so a duplicate message, a
second beat or a racing request can never move a task twice; each change writes a TaskEvent."""

import functools
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.sql.subqueries import UpdateQuery
from django.utils import timezone

from core import observability, queueing
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import Membership
from core.selectors import membership_for_user
from emma import callbacks, hooks, registry
from emma.metrics import PUBLISH_FAILURES, TASK_DURATION, TASKS_SUBMITTED, WORKFLOWS
from emma.models import AgentRunStep, AgentTask, TaskEvent
from governance import services as governance
from governance.audit import audit_record, audit_record_many
from governance.hooks import EscalationOutcome
from governance.models import Escalation
from governance.policy import ALLOW, DENY, ESCALATE, TaskFacts
from governance.selectors import escalation_for_task, escalations_closed_before

logger = logging.getLogger(__name__)
Status = AgentTask.Status

# A published task that has not started after this long is published again (the broker may have
# lost it, or the publish failed after commit). The claim makes the duplicate harmless.
REPUBLISH_AFTER = timedelta(seconds=60)
# Grace past a task type's time limit before its claim counts as abandoned.
LEASE_GRACE = timedelta(seconds=30)


@dataclass
class SubmitResult:
    task: AgentTask
    escalation_id: str | None
    created: bool


# --- transitions --------------------------------------------------------------------------------


_FIELDS = AgentTask._meta.concrete_fields
_ATTNAMES = [field.attname for field in _FIELDS]


@functools.cache
def _returning() -> tuple[str, list]:
    """The RETURNING list of every task column, and each column's converters (JSON, decimals), once."""
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _FIELDS)
    return columns, [(field, field.get_db_converters(connection)) for field in _FIELDS]


def _task_from_row(row) -> AgentTask:
    values = []
    for (field, converters), value in zip(_returning()[1], row, strict=True):
        for converter in converters:
            value = converter(value, field, connection)
        values.append(value)
    return AgentTask.from_db(connection.alias, _ATTNAMES, values)


def _move(filters: dict, values: dict, event: list) -> AgentTask | None:
    """One statement: the conditional UPDATE, its TaskEvent, and the task as it now is (None when no row
    matched). The ORM writes the UPDATE (value conversion, F() expressions); this adds RETURNING and the
    event's INSERT, so a move costs one round trip and no re-read."""
    query = UpdateQuery(AgentTask)
    query.add_q(Q(**filters))
    query.add_update_values(values)
    update, params = query.get_compiler(connection.alias).as_sql()
    columns = _returning()[0]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH moved AS ({update} RETURNING {columns}), "
            f"event AS (INSERT INTO {TaskEvent._meta.db_table} (task_id, from_status, to_status, actor, note, "
            f"created_at) SELECT id, %s, %s, %s, %s, %s FROM moved) SELECT * FROM moved", [*params, *event])
        row = cursor.fetchone()
    return None if row is None else _task_from_row(row)


def _transition(task_id, *, expected: str, to: str, actor: str = "system", note: str = "",
                **fields) -> AgentTask | None:
    """Move a task from `expected` to `to` if (and only if) it is still in `expected`; the task as moved,
    or None. A move to a final status is also recorded in the tenant's audit chain, with the side
    effect's receipt where the task type names one, in the same commit: the chain outlives the task's
    events, which retention deletes."""
    filters = {"pk": task_id, "status": expected}
    if "claimed_by" in fields and expected == Status.RUNNING:
        filters["claimed_by"] = fields.pop("claimed_by")
    now = timezone.now()
    move = ({"status": to, "updated_at": now, **fields}, [expected, to, actor[:150], note[:2000], now])
    if to not in AgentTask.FINAL_STATUSES:
        return _move(filters, *move)
    with transaction.atomic(savepoint=False):  # the change, its event and its audit record: one commit
        task = _move(filters, *move)
        if task is not None:
            _audit_outcome(task, expected=expected, actor=actor, note=note)
            hooks.task_finished(task=task)
    return task


def _audit_outcome(task: AgentTask, *, expected: str, actor: str, note: str) -> None:
    spec = registry.get(task.task_type)
    outcome = {"status": task.status, "task_type": task.task_type, "note": note[:500]}
    if task.error:
        outcome["error"] = task.error[:500]
    if task.actual_cost is not None:
        outcome["actual_cost"] = str(task.actual_cost)
    receipt = spec.receipt_of(task.result) if spec and task.status == Status.SUCCEEDED else None
    if receipt:
        outcome["receipt"] = receipt
    audit_record(tenant_id=task.tenant_id, actor=actor, action=f"task.{task.status}", object_type="task",
                 object_id=task.pk, before={"status": expected}, after=outcome,
                 correlation_id=task.correlation_id)


def _publish(task_id, task_type: str, priority: int = 5, countdown: float = 0) -> None:
    """Hand the task to the broker, at its priority; a failure is counted and left to the republish sweep
    (the row is committed as queued, with `not_before` saying when the sweep may send it again)."""
    from emma.tasks import execute_task

    spec = registry.get(task_type)
    time_limit = spec.time_limit if spec else 60
    if not queueing.publish(execute_task, str(task_id), task_type, countdown=countdown, soft_time_limit=time_limit,
                            time_limit=time_limit + 10, priority=queueing.broker_priority(priority)):
        PUBLISH_FAILURES.inc()


def _queue(task_id, *, expected: str, task_type: str, actor: str, note: str, path: str | None = None,
           **fields) -> bool:
    now = timezone.now()
    moved = _transition(task_id, expected=expected, to=Status.QUEUED, actor=actor, note=note, queued_at=now,
                        not_before=now + REPUBLISH_AFTER, **fields)
    if moved:
        transaction.on_commit(lambda: _publish(task_id, task_type, moved.priority))
        if path:
            transaction.on_commit(lambda: WORKFLOWS.labels(path=path).inc())
    return moved is not None


# --- submission ---------------------------------------------------------------------------------


def _fingerprint(**request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, cls=DjangoJSONEncoder).encode()).hexdigest()


MAX_BATCH = 100


@dataclass(frozen=True)
class _Request:
    """One task of a submission, checked: everything governance and the insert need."""

    spec: registry.TaskType
    description: str
    parameters: dict
    priority: int
    cost: Decimal
    idempotency_key: str | None
    callback_url: str | None
    fingerprint: str

    @property
    def task_type(self) -> str:
        return self.spec.name

    def facts(self) -> TaskFacts:
        """What governance decides on (the risk as this deployment's configuration has it now)."""
        risk, external = self.spec.current_risk()
        return TaskFacts(task_type=self.task_type, risk=risk, external_side_effects=external,
                         estimated_cost=self.cost)


def _checked(*, task_type: str, description: str = "", parameters: dict | None = None, priority: int = 5,
             estimated_cost: Decimal | None = None, idempotency_key: str | None = None,
             callback_url: str | None = None, by_its_app: bool = False) -> _Request:
    spec = registry.get(task_type)
    if spec is None:
        raise Invalid(details={"task_type": [f"Unknown task type {task_type!r}; see GET /api/task-types."]})
    if spec.submitted_through and not by_its_app:
        raise Invalid(details={"task_type": [f"{task_type} is asked for through {spec.submitted_through}."]})
    missing = spec.unavailable_reason()
    if missing:
        raise Invalid(details={"task_type": [f"{task_type} is unavailable in this deployment: {missing} is not set."]})
    parameters = parameters if parameters is not None else {}
    errors = spec.validate(parameters)
    if errors:
        raise Invalid(details={"parameters": errors})
    callback_url = callbacks.callback_url_check(callback_url)
    fingerprint = _fingerprint(task_type=task_type, description=description, parameters=parameters,
                               priority=priority, estimated_cost=str(estimated_cost),
                               **({"callback_url": callback_url} if callback_url else {}))
    cost = Decimal(str(estimated_cost)) if estimated_cost is not None else spec.default_cost
    return _Request(spec, description, parameters, priority, cost, idempotency_key or None, callback_url, fingerprint)


def _existing(tenant_id, requests: list[_Request]) -> dict[int, SubmitResult]:
    """The requests whose Idempotency-Key was used before, by index: the same body returns the original
    task; another body is a 409."""
    keys = {request.idempotency_key: index for index, request in enumerate(requests) if request.idempotency_key}
    if not keys:
        return {}
    found = {}
    for task in AgentTask.objects.filter(tenant_id=tenant_id, idempotency_key__in=list(keys)):
        index = keys[task.idempotency_key]
        if task.request_fingerprint != requests[index].fingerprint:
            where = f"Task {index} of the batch: this" if len(requests) > 1 else "This"
            raise Conflict(f"{where} Idempotency-Key was already used with a different request body.")
        escalation = escalation_for_task(task_id=task.pk)
        found[index] = SubmitResult(task=task, escalation_id=str(escalation.pk) if escalation else None,
                                    created=False)
    return found


def _record(user, tenant_id: int, requests: list[tuple[int, _Request]], *, correlation_id: str,
            channel: str) -> dict[int, SubmitResult]:
    """Decide, insert and audit new tasks in the caller's transaction: one policy read, one insert of the
    tasks, one of their events and one append to the audit chain, however many there are."""
    facts = [request.facts() for _, request in requests]
    task_ids = [uuid.uuid4() for _ in requests]  # known before the insert: the decision records name them
    decisions, policy, policy_version = governance.decisions_make(
        tenant_id=tenant_id, facts=facts, subjects=[governance.DecisionSubject(task_id=id_) for id_ in task_ids])
    now = timezone.now()
    username = user.get_username()
    tasks = []
    for (_, request), fact, decision, task_id in zip(requests, facts, decisions, task_ids, strict=True):
        status = {ALLOW: Status.QUEUED, ESCALATE: Status.PENDING_APPROVAL, DENY: Status.REJECTED}[decision.outcome]
        tasks.append(AgentTask(
            id=task_id, tenant_id=tenant_id, task_type=request.task_type, description=request.description,
            parameters=request.parameters, priority=request.priority, risk=fact.risk, estimated_cost=request.cost,
            status=status, decision=decision.outcome, decision_reasons=decision.reasons,
            policy_version=policy_version, correlation_id=correlation_id, idempotency_key=request.idempotency_key,
            request_fingerprint=request.fingerprint, submitter=user, channel=channel,
            callback_url=request.callback_url, queued_at=now if status == Status.QUEUED else None,
            not_before=now + REPUBLISH_AFTER if status == Status.QUEUED else None,
            finished_at=now if status == Status.REJECTED else None))
    AgentTask.objects.bulk_create(tasks)
    TaskEvent.objects.bulk_create([
        TaskEvent(task=task, to_status=task.status, actor=username,
                  note=f"{decision.outcome}: " + "; ".join(decision.reasons))
        for task, decision in zip(tasks, decisions, strict=True)])
    audit_record_many(tenant_id=tenant_id, events=[
        {"actor": username, "action": "task.submitted", "object_type": "task", "object_id": task.pk,
         "correlation_id": correlation_id,
         "after": {"task_type": task.task_type, "risk": task.risk, "estimated_cost": str(task.estimated_cost),
                   "decision": task.decision, "reasons": task.decision_reasons, "policy_version": policy_version,
                   "channel": channel}}
        for task in tasks])
    results = {}
    for (index, request), fact, task in zip(requests, facts, tasks, strict=True):
        escalation_id = None
        if task.status == Status.REJECTED:
            hooks.task_finished(task=task)
        elif task.status == Status.PENDING_APPROVAL:
            escalation_id = str(governance.escalation_open(
                tenant_id=tenant_id, task_id=task.pk, facts=fact, summary=request.description,
                parameters=request.parameters, requester=user, reasons=task.decision_reasons, policy=policy,
                policy_version=policy_version, correlation_id=correlation_id, channel=channel).pk)
        else:
            transaction.on_commit(lambda t=task: _publish(t.pk, t.task_type, t.priority))
            transaction.on_commit(lambda: WORKFLOWS.labels(path="auto").inc())
        transaction.on_commit(lambda t=task: TASKS_SUBMITTED.labels(task_type=t.task_type, decision=t.decision).inc())
        results[index] = SubmitResult(task=task, escalation_id=escalation_id, created=True)
    return results


def batch_invalid(errors: dict[int, dict]) -> Invalid:
    """One error for a batch with invalid tasks: each task's problems under `tasks[<index>].<field>`, and a
    message naming the first."""
    return Invalid(f"Task {min(errors)} of the batch is invalid; nothing was submitted.", details={
        f"tasks[{index}].{field}": problems for index, details in sorted(errors.items())
        for field, problems in details.items()})


def _refuse_types_outside_the_key(user, requests) -> None:
    """An API key limited to some task types (core.models.APIKey.task_types) submits only those, however it
    comes in (one task or a batch): 403 naming them, and nothing is recorded."""
    allowed = getattr(getattr(user, "api_key", None), "task_types", None)
    if not allowed:
        return
    refused = sorted({request.task_type for request in requests} - set(allowed))
    if refused:
        raise Forbidden(f"This API key may submit only {', '.join(sorted(allowed))}; not {', '.join(refused)}.",
                        details={"task_type": [f"Not allowed for this API key: {', '.join(refused)}."],
                                 "allowed_task_types": sorted(allowed)})


def tasks_submit(*, user, requests: list[dict], correlation_id: str = "", channel: str = "api",
                 batch: bool = True) -> list[SubmitResult]:
    """Validate, decide, record and (when allowed) queue up to MAX_BATCH tasks in one transaction, each
    with its own decision, audit event and Idempotency-Key; the results in the order asked. One invalid
    request rejects them all, naming its index (`tasks[3].parameters`; a single submission, `batch` False,
    names the field alone): nothing is recorded then."""
    membership = membership_for_user(user)
    if not 1 <= len(requests) <= MAX_BATCH:
        raise Invalid(details={"tasks": [f"Between 1 and {MAX_BATCH} tasks per request."]})
    checked, errors = [], {}
    for index, request in enumerate(requests):
        try:
            checked.append(_checked(**request))
        except Invalid as exc:
            if not batch:
                raise
            errors[index] = exc.details
    if errors:
        raise batch_invalid(errors)
    _refuse_types_outside_the_key(user, checked)
    keys = [request.idempotency_key for request in checked if request.idempotency_key]
    if len(keys) != len(set(keys)):
        raise Invalid(details={"tasks": ["Two tasks of the batch have the same idempotency_key."]})

    def submit() -> list[SubmitResult]:
        results = _existing(membership.tenant_id, checked)
        new = [(index, request) for index, request in enumerate(checked) if index not in results]
        if new:
            with transaction.atomic():
                results.update(_record(user, membership.tenant_id, new, correlation_id=correlation_id,
                                       channel=channel))
        return [results[index] for index in range(len(checked))]

    try:
        return submit()
    except IntegrityError:
        if not keys:
            raise
        return submit()  # another request took one of these Idempotency-Keys meanwhile: answer as it did


def task_submit(*, user, task_type: str, description: str = "", parameters: dict | None = None, priority: int = 5,
                estimated_cost: Decimal | None = None, idempotency_key: str | None = None,
                correlation_id: str = "", channel: str = "api", callback_url: str | None = None,
                by_its_app: bool = False) -> SubmitResult:
    """Validate, decide, record and (when allowed) queue a task, all in one transaction.
    The same Idempotency-Key with the same body returns the original task; with another body, 409.
    `by_its_app`: the app that owns a type with `submitted_through` is asking (it checked what its API takes)."""
    request = {"task_type": task_type, "description": description, "parameters": parameters, "priority": priority,
               "estimated_cost": estimated_cost, "idempotency_key": idempotency_key, "callback_url": callback_url,
               "by_its_app": by_its_app}
    return tasks_submit(user=user, requests=[request], correlation_id=correlation_id, channel=channel,
                        batch=False)[0]


# --- escalation outcomes (registered with governance at start-up) --------------------------------


def task_on_escalation_closed(escalation, outcome: EscalationOutcome) -> None:
    """Approved: queue the task. Rejected: reject it. Expired: expire it. Withdrawn: the task was
    cancelled already. Governance calls this after the decision committed; each move is conditional,
    so the sweep below and this hook can both run without moving a task twice."""
    actor = escalation.decided_by.get_username() if escalation.decided_by_id else "system"
    note = f"escalation {outcome}" + (f": {escalation.decision_reason}" if escalation.decision_reason else "")
    if escalation.step is not None:
        # An agent run's tool call: whatever the answer, the run goes on and reads it from the escalation.
        if outcome != EscalationOutcome.WITHDRAWN:
            _resume(escalation.task_id, actor=actor, note=f"tool call {escalation.tool} (step {escalation.step}): "
                                                         f"{note}")
        return
    if outcome == EscalationOutcome.APPROVED:
        _queue(escalation.task_id, expected=Status.PENDING_APPROVAL, task_type=escalation.task_type, actor=actor,
               note=note, path="hitl")
    elif outcome in (EscalationOutcome.REJECTED, EscalationOutcome.EXPIRED):
        to = Status.REJECTED if outcome == EscalationOutcome.REJECTED else Status.EXPIRED
        _transition(escalation.task_id, expected=Status.PENDING_APPROVAL, to=to, actor=actor, note=note,
                    finished_at=timezone.now())


def _resume(task_id, *, actor: str, note: str) -> bool:
    """A paused run goes back on its queue, with a fresh set of attempts (each resume is a new segment)."""
    task_type = AgentTask.objects.filter(pk=task_id).values_list("task_type", flat=True).first()
    return _queue(task_id, expected=Status.WAITING_FOR_APPROVAL, task_type=task_type or "", actor=actor, note=note,
                  path="hitl", attempts=0)


def tasks_settle_closed_escalations(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
    """Tasks still pending approval although their escalation closed: the process that committed the
    decision died before its hook ran. Apply the outcome now (the hook's own code, so once)."""
    closed = escalations_closed_before(before=timezone.now() - older_than, limit=limit,
                                       task_ids=AgentTask.objects.filter(status=Status.PENDING_APPROVAL).values("pk"))
    for escalation, outcome in closed:
        task_on_escalation_closed(escalation, outcome)
    # Paused runs with no open escalation: the decision on their tool call was made, its hook lost.
    orphaned = (AgentTask.objects.filter(status=Status.WAITING_FOR_APPROVAL, updated_at__lt=timezone.now() - older_than)
                .exclude(pk__in=Escalation.objects.filter(status=Escalation.Status.OPEN).values("task_id"))
                .values_list("pk", flat=True)[:limit])
    resumed = sum(_resume(task_id, actor="system", note="its tool call was decided; resumed by the sweep")
                  for task_id in orphaned)
    return len(closed) + resumed


def run_transcript(*, tenant_id: int, task_id) -> list[AgentRunStep]:
    """An agent run's steps so far (registered as governance's provider for a tool call's escalation page)."""
    return list(AgentRunStep.objects.filter(task_id=task_id, task__tenant_id=tenant_id).order_by("seq"))


def task_history(*, tenant_id: int, task_id) -> list[TaskEvent]:
    """The status history governance's escalation page shows (registered as governance's provider)."""
    return list(TaskEvent.objects.filter(task_id=task_id, task__tenant_id=tenant_id))


# --- cancellation -------------------------------------------------------------------------------


@transaction.atomic
def task_cancel(*, user, task_id, correlation_id: str = "") -> AgentTask:
    """Pending, queued or paused on a tool call: cancelled now (an open escalation is withdrawn). Running:
    cancellation is requested and the handler stops at its next check. Finished: 409. Only the submitter
    or a tenant admin may cancel."""
    membership = membership_for_user(user)
    task = AgentTask.objects.for_tenant(membership.tenant_id).select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    if task.submitter_id != user.pk and membership.role != Membership.Role.ADMIN:
        raise Forbidden("Only the submitter or a tenant admin may cancel this task.")
    actor = user.get_username()
    before = task.status
    if task.status in (Status.PENDING_APPROVAL, Status.QUEUED, Status.WAITING_FOR_APPROVAL):
        spent = task.steps.aggregate(total=Sum("cost"))["total"] if before == Status.WAITING_FOR_APPROVAL else None
        _transition(task.pk, expected=task.status, to=Status.CANCELLED, actor=actor, note="cancelled",
                    finished_at=timezone.now(), **({"actual_cost": spent} if spent is not None else {}))
        if spent is not None:  # a paused run already spent tokens: the day's budget counts what it cost
            governance.budget_settle(tenant_id=task.tenant_id, reserved=task.estimated_cost, actual=spent)
        if before in (Status.PENDING_APPROVAL, Status.WAITING_FOR_APPROVAL):
            governance.escalation_withdraw(task_id=task.pk, actor=actor, correlation_id=correlation_id)
    elif task.status == Status.RUNNING:
        if not task.cancel_requested:
            AgentTask.objects.filter(pk=task.pk).update(cancel_requested=True)
            TaskEvent.objects.create(task=task, from_status=Status.RUNNING, to_status=Status.RUNNING, actor=actor,
                                     note="cancellation requested")
            # The outcome (task.cancelled, or whatever the handler reached first) is audited when it ends.
            audit_record(tenant_id=task.tenant_id, actor=actor, action="task.cancel_requested", object_type="task",
                         object_id=task.pk, before={"status": before}, after={"cancel_requested": True},
                         correlation_id=correlation_id)
    else:
        raise Conflict(f"The task is already {task.status}.")
    task.refresh_from_db()
    return task


# --- execution ----------------------------------------------------------------------------------


class TaskContext:
    """What a handler may know of and do with its task."""

    def __init__(self, task: AgentTask):
        self.task_id = task.pk
        self.tenant_id = task.tenant_id
        self.correlation_id = task.correlation_id
        self.attempt = task.attempts
        self.idempotency_key = str(task.pk)  # what the task sends out carries it (webhook.post, the outbox)
        self.actual_cost: Decimal | None = None  # a handler that knows its real cost (an agent run) sets it
        self._next_check = 0.0

    def check_cancelled(self) -> None:
        """Raise TaskCancelled if someone cancelled the task (looks at most twice a second)."""
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + 0.5
        if AgentTask.objects.filter(pk=self.task_id, cancel_requested=True).exists():
            raise registry.TaskCancelled()


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_gone(task: AgentTask) -> bool:
    """A claim is abandoned when its process is dead (same host) or its lease ran out (any host)."""
    host, _, pid = task.claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return task.lease_until is not None and task.lease_until < timezone.now()


def _lease(spec) -> dict:
    now = timezone.now()
    return {"started_at": now, "lease_until": now + timedelta(seconds=spec.time_limit + 10) + LEASE_GRACE}


def _claim(task_id, spec, worker: str) -> AgentTask | None:
    """Win the right to run the task: queued -> running. A message redelivered after its worker died
    takes the abandoned claim over instead, while attempts remain."""
    claimed = _transition(task_id, expected=Status.QUEUED, to=Status.RUNNING, actor=worker, note="started",
                          claimed_by=worker, attempts=F("attempts") + 1, **_lease(spec))
    if claimed is not None:
        return claimed
    task = AgentTask.objects.filter(pk=task_id, status=Status.RUNNING).first()
    if task is None or task.claimed_by == worker or not _holder_is_gone(task):
        return None
    if task.attempts >= spec.max_attempts:
        _transition(task_id, expected=Status.RUNNING, to=Status.FAILED, claimed_by=task.claimed_by,
                    note=f"its worker ({task.claimed_by}) was lost and no attempts are left",
                    error="worker lost", finished_at=timezone.now())
        return None
    taken = AgentTask.objects.filter(pk=task_id, status=Status.RUNNING, claimed_by=task.claimed_by).update(
        claimed_by=worker, attempts=F("attempts") + 1, **_lease(spec))
    if not taken:
        return None
    TaskEvent.objects.create(task_id=task_id, from_status=Status.RUNNING, to_status=Status.RUNNING, actor=worker,
                             note=f"taken over from lost worker {task.claimed_by}")
    return AgentTask.objects.get(pk=task_id)


def task_execute(*, task_id, task_type: str | None = None) -> str:
    """Run a queued task once and log the outcome; the claim makes a repeated message a no-op. The
    message names the task's type (a task's type never changes), which spares a read before the claim."""
    outcome = _execute(task_id, task_type)
    logger.info("task %s %s", task_id, outcome)
    return outcome


def _execute(task_id, task_type: str | None) -> str:
    spec = registry.get(task_type) if task_type else None
    worker = worker_identity()
    if spec is None:  # a message without the type (published before it carried one), or a type unknown here
        task = AgentTask.objects.filter(pk=task_id).only("task_type").first()
        if task is None:
            return "missing"
        spec = registry.get(task.task_type)
        if spec is None:
            _transition(task_id, expected=Status.QUEUED, to=Status.FAILED, actor=worker,
                        error=f"unknown task type {task.task_type}", finished_at=timezone.now())
            return "unknown-type"
    task = _claim(task_id, spec, worker)
    if task is None:
        return "not-claimed"
    # The task's own id, from its submission, whoever published this message (an approver, the sweep).
    if task.correlation_id:
        observability.set_correlation_id(task.correlation_id)
    ctx = TaskContext(task)
    started = time.perf_counter()
    finish = {"expected": Status.RUNNING, "claimed_by": worker, "actor": worker}
    try:
        result = spec.handler(ctx, task.parameters)
        result = json.loads(json.dumps(result, cls=DjangoJSONEncoder))
    except registry.TaskPaused as paused:
        # The worker is released; the escalation's decision queues the task again (task_on_escalation_closed).
        _despite_outage(task, functools.partial(_transition, task_id, to=Status.WAITING_FOR_APPROVAL,
                                                note=f"paused: {paused}", lease_until=None, **finish))
        return "paused"
    except registry.TaskCancelled:
        _end(task, ctx, to=Status.CANCELLED, note="cancelled while running", **finish)
        return "cancelled"
    except registry.TaskStopped as exc:
        _end(task, ctx, to=Status.FAILED, note=f"stopped: {exc}", error=f"stopped: {exc}"[:2000], **finish)
        return "stopped"
    except SoftTimeLimitExceeded:
        _end(task, ctx, to=Status.FAILED, note="time limit exceeded",
             error=f"time limit of {spec.time_limit}s exceeded", **finish)
        return "timed-out"
    except registry.RetryableError as exc:
        if task.attempts < spec.max_attempts:
            delay = queueing.backoff_seconds(task.attempts)
            now = timezone.now()
            if _despite_outage(task, functools.partial(
                    _transition, task_id, to=Status.QUEUED, note=f"attempt {task.attempts} failed, retrying in "
                    f"{delay:.1f}s: {exc}", error=str(exc)[:2000], queued_at=now,
                    not_before=now + timedelta(seconds=delay) + REPUBLISH_AFTER, **finish)):
                _publish(task_id, spec.name, task.priority, countdown=delay)
            return "retrying"
        _end(task, ctx, to=Status.FAILED, note=f"failed after {task.attempts} attempts", error=str(exc)[:2000],
             **finish)
        return "failed"
    except Exception as exc:  # a handler's bug fails its task, never the worker
        logger.exception("task %s (%s) failed", task_id, spec.name)
        _end(task, ctx, to=Status.FAILED, note="failed", error=f"{type(exc).__name__}: {exc}"[:2000], **finish)
        return "failed"
    finally:
        TASK_DURATION.labels(task_type=spec.name).observe(time.perf_counter() - started)
    _end(task, ctx, to=Status.SUCCEEDED, note="succeeded", result=result, **finish)
    return "succeeded"


def _end(task: AgentTask, ctx: TaskContext, *, to: str, **fields) -> bool:
    """A final transition. A handler that measured its real cost (an agent run's tokens) records it, and
    the day's budget, which counted the estimate at submission, is settled to it."""
    actual = ctx.actual_cost if ctx.actual_cost is not None else (
        task.estimated_cost if to == Status.SUCCEEDED else None)

    def end():
        with transaction.atomic():
            ended = _transition(task.pk, to=to, finished_at=timezone.now(), actual_cost=actual, **fields)
            if ended and ctx.actual_cost is not None:
                governance.budget_settle(tenant_id=task.tenant_id, reserved=task.estimated_cost,
                                         actual=ctx.actual_cost)
        return ended

    return _despite_outage(task, end)


def _despite_outage(task: AgentTask, write):
    """Record what the handler did (`write`, a transition conditional on this worker's claim): once the
    handler has run, its outcome exists only in this process, and a database that is unreachable for a
    moment (a restart, a failover) must not lose it, or the reaper would run the task again when its lease
    ends. So the write is tried again every second until that lease ends (the task's time limits still
    apply); repeated after an attempt that did commit, it matches no row and changes nothing. Inside a
    caller's transaction it is not retried: that transaction is lost anyway."""
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or task.lease_until is None or timezone.now() >= task.lease_until:
                raise
            logger.warning("task %s: the database is unavailable; its outcome is recorded again in 1 s: %s",
                           task.pk, exc)
            connection.close()
            time.sleep(1)


# --- recovery sweeps (beat) ---------------------------------------------------------------------


def tasks_republish_stale(*, limit: int = 500) -> int:
    """Publish again the queued tasks that have not started in time (a lost or failed publish)."""
    now = timezone.now()
    count = 0
    for task_id, task_type, priority, not_before in (
            AgentTask.objects.filter(status=Status.QUEUED, not_before__lte=now)
            .values_list("pk", "task_type", "priority", "not_before")[:limit]):
        if AgentTask.objects.filter(pk=task_id, status=Status.QUEUED, not_before=not_before).update(
                not_before=now + REPUBLISH_AFTER):
            _publish(task_id, task_type, priority)
            count += 1
    return count


def tasks_reap_stuck(*, limit: int = 500) -> int:
    """Running tasks whose claim ran out (their worker died or hung): queue them again while
    attempts remain, else fail them."""
    now = timezone.now()
    count = 0
    for task in AgentTask.objects.filter(status=Status.RUNNING, lease_until__lt=now)[:limit]:
        spec = registry.get(task.task_type)
        common = {"expected": Status.RUNNING, "claimed_by": task.claimed_by, "actor": "reaper"}
        if spec and task.attempts < spec.max_attempts:
            with transaction.atomic():
                if _transition(task.pk, to=Status.QUEUED, note=f"claim by {task.claimed_by} expired; queued again",
                               queued_at=now, not_before=now + REPUBLISH_AFTER, **common):
                    transaction.on_commit(lambda t=task: _publish(t.pk, t.task_type, t.priority))
                    count += 1
        elif _transition(task.pk, to=Status.FAILED, note=f"claim by {task.claimed_by} expired; no attempts left",
                         error="worker lost or time limit exceeded", finished_at=now, **common):
            count += 1
    return count
