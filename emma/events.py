"""A task's run as a stream of events, read from the rows PostgreSQL already holds (TaskEvent and
AgentRunStep), so a client that reconnects with the last id it saw misses nothing and sees nothing twice.

Event ids are `<microseconds since the epoch>-<source><pk>-<sub>`, ordered as the tuple
(microseconds, source, pk, sub), sources in the order `s` (a step was recorded: `model` or `tool_call`),
`r` (a tool step's result was recorded, at its `finished_at`: `tool_result`), `e` (a TaskEvent: `status`,
then, as sub 1, `awaiting_approval`, `resumed` or `finished`). A tool step that is decided later than it
was recorded still yields its `tool_result` after a reconnect: that event's position is its finished_at.

While the task is not final, rows younger than SETTLE are held back one poll: a row's timestamp is taken
when it is written, not when its transaction commits, and the hold lets a transaction that wrote earlier
but committed later land before the cursor passes it (writes to one run are serialised by the worker that
holds it and commit within milliseconds)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from core.errors import Invalid
from emma.models import AgentRunStep, AgentTask, TaskEvent

POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0  # then the stream ends; the client reconnects with Last-Event-ID
SETTLE = timedelta(seconds=1)
RETRY_MS = 1000  # what an EventSource waits before it reconnects

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
SOURCES = {"s": 0, "r": 1, "e": 2}
CURSOR = re.compile(r"(\d{1,19})-([sre])(\d{1,19})-([01])")
ESCALATION_IN_NOTE = re.compile(r"waiting for escalation ([0-9a-f-]{36})")


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, order=True)
class Cursor:
    us: int
    source: int
    pk: int
    sub: int

    @property
    def id(self) -> str:
        letter = next(name for name, order in SOURCES.items() if order == self.source)
        return f"{self.us}-{letter}{self.pk}-{self.sub}"


START = Cursor(0, 0, 0, 0)


@dataclass
class Event:
    cursor: Cursor
    name: str
    data: dict

    def encode(self) -> bytes:
        body = json.dumps(self.data, cls=DjangoJSONEncoder, ensure_ascii=False)
        return f"id: {self.cursor.id}\nevent: {self.name}\ndata: {body}\n\n".encode()


def cursor_parse(*, task_id, last_event_id: str | None) -> Cursor:
    """The position after which a stream resumes: START without an id; an id that is malformed or names
    no row of this task is refused (a client must not silently start over or skip)."""
    if not last_event_id:
        return START
    found = CURSOR.fullmatch(last_event_id.strip())
    if found is None:
        raise Invalid.field("Last-Event-ID", "Not an event id of this stream.")
    us, letter, pk, sub = int(found[1]), found[2], int(found[3]), int(found[4])
    at = moment(us) if us <= MAX_US and pk < 2**63 else None
    rows = {"e": TaskEvent.objects.filter(task_id=task_id, pk=pk, created_at=at),
            "s": AgentRunStep.objects.filter(task_id=task_id, pk=pk, created_at=at),
            "r": AgentRunStep.objects.filter(task_id=task_id, pk=pk, finished_at=at)}[letter]
    if at is None or not rows.exists():
        raise Invalid.field("Last-Event-ID", "No event of this task has this id.")
    return Cursor(us, SOURCES[letter], pk, sub)


def events_after(task: AgentTask, after: Cursor, *, horizon: datetime | None) -> list[Event]:
    """The task's events after `after`, in order, none newer than `horizon`: one indexed query per table."""
    since = moment(after.us)
    status_rows = TaskEvent.objects.filter(task_id=task.pk, created_at__gte=since)
    step_rows = AgentRunStep.objects.filter(Q(created_at__gte=since) | Q(finished_at__gte=since), task_id=task.pk)
    if horizon is not None:
        status_rows = status_rows.filter(created_at__lte=horizon)
    events = []
    for row in status_rows:
        if Cursor(micros(row.created_at), SOURCES["e"], row.pk, 1) > after:  # derived events may cost a query
            events.extend(_status_events(task, row))
    for step in step_rows:
        events.extend(_step_events(step))
    events = [event for event in events if event.cursor > after
              and (horizon is None or moment(event.cursor.us) <= horizon)]
    return sorted(events, key=lambda event: event.cursor)


def _status_events(task: AgentTask, row: TaskEvent) -> list[Event]:
    us = micros(row.created_at)
    at = row.created_at
    events = [Event(Cursor(us, SOURCES["e"], row.pk, 0), "status",
                    {"from": row.from_status or None, "to": row.to_status, "actor": row.actor, "note": row.note,
                     "at": at})]
    derived = Cursor(us, SOURCES["e"], row.pk, 1)
    if row.to_status in AgentTask.FINAL_STATUSES:
        final = AgentTask.objects.only("status", "result", "error", "actual_cost", "finished_at").get(pk=task.pk)
        events.append(Event(derived, "finished", {"status": row.to_status, "result": final.result,
                                                  "error": final.error, "actual_cost": final.actual_cost,
                                                  "finished_at": final.finished_at or at}))
    elif row.to_status == AgentTask.Status.WAITING_FOR_APPROVAL:
        events.append(Event(derived, "awaiting_approval", _awaiting(task, row)))
    elif row.from_status == AgentTask.Status.WAITING_FOR_APPROVAL and row.to_status == AgentTask.Status.QUEUED:
        events.append(Event(derived, "resumed", {"actor": row.actor, "note": row.note, "at": at}))
    return events


def _awaiting(task: AgentTask, row: TaskEvent) -> dict:
    """The tool step the run paused on: the last one with an escalation not answered before the pause."""
    step = (AgentRunStep.objects.filter(task_id=task.pk, kind=AgentRunStep.Kind.TOOL, escalation_id__isnull=False,
                                        created_at__lte=row.created_at)
            .filter(Q(finished_at__isnull=True) | Q(finished_at__gt=row.created_at)).order_by("-seq").first())
    named = ESCALATION_IN_NOTE.search(row.note)
    escalation_id = named[1] if named else (step.escalation_id if step else None)
    if step is None:
        return {"seq": None, "tool": None, "arguments": None, "escalation_id": escalation_id, "at": row.created_at}
    return {"seq": step.seq, "tool": step.tool, "arguments": step.arguments, "escalation_id": escalation_id,
            "at": row.created_at}


def _step_events(step: AgentRunStep) -> list[Event]:
    us = micros(step.created_at)
    if step.kind == AgentRunStep.Kind.MODEL:
        return [Event(Cursor(us, SOURCES["s"], step.pk, 0), "model",
                      {"seq": step.seq, "text": step.text, "model": step.model, "input_tokens": step.input_tokens,
                       "output_tokens": step.output_tokens, "cached_tokens": step.cached_tokens, "cost": step.cost,
                       "at": step.created_at})]
    events = [Event(Cursor(us, SOURCES["s"], step.pk, 0), "tool_call",
                    {"seq": step.seq, "turn": step.turn, "tool": step.tool, "tool_call_id": step.tool_call_id,
                     "arguments": step.arguments, "decision": step.decision or None,
                     "decision_reasons": step.decision_reasons, "status": step.status,
                     "escalation_id": step.escalation_id, "at": step.created_at})]
    if step.finished_at is not None and step.status == AgentRunStep.ToolStatus.DONE:
        events.append(Event(Cursor(micros(step.finished_at), SOURCES["r"], step.pk, 0), "tool_result",
                            {"seq": step.seq, "tool": step.tool, "arguments": step.arguments,
                             "decision": step.decision or None, "status": step.status, "content": step.content,
                             "result": step.result, "finished_at": step.finished_at}))
    return events


def _release_connection() -> None:
    """No connection held across a sleep (many streams must not pin PostgreSQL's connection slots); inside
    a transaction (a test's) there is nothing to release."""
    if not connection.in_atomic_block:
        connection.close()


def stream(task: AgentTask, after: Cursor):
    """The SSE body: events as they are recorded, a keep-alive comment when quiet, until the task's
    `finished` event, the client leaves (the server's write fails), or MAX_STREAM_SECONDS."""
    started = last_sent = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n".encode()
    final = task.status in AgentTask.FINAL_STATUSES
    try:
        while True:
            # Once final, every row is committed (the final transition is the run's last write): no hold.
            # While running, the final status arrives as its own `finished` event, one SETTLE late.
            events = events_after(task, after, horizon=None if final else timezone.now() - SETTLE)
            _release_connection()
            for event in events:
                yield event.encode()
                after = event.cursor
                if event.name == "finished":
                    return
            if events:
                last_sent = time.monotonic()
            if final:
                return  # its finished event was before the client's cursor
            now = time.monotonic()
            if now - started >= MAX_STREAM_SECONDS:
                return
            if now - last_sent >= KEEP_ALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = now
            time.sleep(POLL_SECONDS)
    finally:
        _release_connection()
