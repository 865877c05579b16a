"""Agent runs: a model works towards its instructions with tools, and every tool call it makes is a
governed decision.

The run is a sequence of steps in PostgreSQL (AgentRunStep): a model turn, then one step per tool call
of that turn. Each step is committed before the next begins, so the run can stop at any point (a paused
tool call, a lost worker, a retry) and go on from its last committed step:

- a tool call is decided by the same policy function as a task, with the tool's facts and the rule
  `tool:<name>` (allow: it runs; deny: the model is told why and goes on; escalate: the run pauses);
- pausing raises TaskPaused: the runner moves the task to `waiting_for_approval` and releases the worker;
  the escalation's decision (approve, approve with edited arguments, reply, reject, reject and stop)
  queues the task again, and the run reads the decision from the escalation when it resumes;
- a tool call runs with the idempotency key `<run id>:<step>`: a side effect repeated after a lost worker
  carries the same key (webhook.post's Idempotency-Key, the outbox's key), so it happens once;
- each model turn's tokens are priced (emma.llm) and recorded; max_steps, max_cost and the tenant's hard
  cost limit end the run with a clear reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from emma import configuration, llm, registry
from emma.models import AgentRunStep, AgentTask
from governance import selectors as governance_selectors
from governance import services as governance
from governance.audit import audit_record
from governance.models import Escalation
from governance.policy import ALLOW, DENY, TaskFacts

logger = logging.getLogger(__name__)
Step = AgentRunStep

SYSTEM_PROMPT = (
    "You are an agent working for a team inside Emma, a governed platform. Work towards the user's "
    "instructions with the tools you are given. Every tool call is checked against the team's policy: a "
    "call may be denied, or wait for a person's approval, who may change its arguments or answer you "
    "instead. When a tool result says a call was denied or rejected, do not repeat it: find another way "
    "or explain what you could not do. Say briefly why you call a tool before calling it. When you are "
    "done, answer with a short summary of what you did.")
TOOL_RESULT_CHARS = 20000  # what a tool's result may take of the model's context
MODEL_CALL_SECONDS = 240  # agent.run's time limit is 600 s a segment


@dataclass
class ToolContext:
    """What a tool's handler may know of the run that calls it (the same shape as a task's context)."""

    task_id: object
    tenant_id: int
    correlation_id: str
    idempotency_key: str
    check_cancelled: Callable[[], None]  # the run's own (emma.services.tasks.TaskContext)


def run_tools(names: list[str] | None) -> list[registry.TaskType]:
    """The tools this run may use: the ones named (each must exist), or every tool."""
    if not names:
        return registry.tools()
    return [registry.get_tool(name) for name in names]


def tool_specs(tools: list[registry.TaskType]) -> list[llm.ToolSpec]:
    return [llm.ToolSpec(name=tool.name, description=tool.description, parameters=tool.schema) for tool in tools]


def transcript(run: AgentTask, steps: list[AgentRunStep]) -> list[dict]:
    """The conversation so far, in emma.llm's neutral message format."""
    messages = [{"role": "user", "content": _opening(run)}]
    for step in steps:
        if step.kind == Step.Kind.MODEL:
            calls = [{"id": s.tool_call_id, "name": s.tool, "arguments": s.requested_arguments or {}}
                     for s in steps if s.kind == Step.Kind.TOOL and s.turn == step.seq]
            message = {"role": "assistant", "content": step.text}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        elif step.status == Step.ToolStatus.DONE:
            messages.append({"role": "tool", "tool_call_id": step.tool_call_id, "name": step.tool,
                             "content": step.content})
    return messages


def _opening(run: AgentTask) -> str:
    parameters = run.parameters
    text = parameters["instructions"]
    context = parameters.get("context") or {}
    if context.get("memory_ids"):
        from memory.models import MemoryItem

        items = MemoryItem.objects.for_tenant(run.tenant_id).live().filter(pk__in=context["memory_ids"])
        text += "\n\nWhat the team knows that may help:\n" + "\n".join(f"- [{item.pk}] {item.content[:2000]}"
                                                                      for item in items)
    if context.get("session_id"):
        from memory import working

        entries = working.working_get(tenant_id=run.tenant_id, session_id=context["session_id"])["entries"]
        if entries:
            text += "\n\nThe conversation so far:\n" + "\n".join(
                f"- {entry.get('role', 'note')}: {entry.get('content', '')}"[:2000] for entry in entries)
    return text


def _spent(steps: list[AgentRunStep]) -> Decimal:
    return sum((step.cost for step in steps), Decimal(0))


def agent_run(ctx, parameters: dict) -> dict:
    """The `agent.run` handler: go on from the last committed step until the model answers, the run is
    stopped, or a tool call waits for a person (TaskPaused)."""
    run = AgentTask.objects.get(pk=ctx.task_id)
    tools = run_tools(parameters.get("tools"))
    max_steps = parameters.get("max_steps", 20)
    while True:
        ctx.check_cancelled()
        steps = list(run.steps.all())
        pending = next((step for step in steps if step.kind == Step.Kind.TOOL and step.status != Step.ToolStatus.DONE),
                       None)
        if pending is not None:
            _advance_tool_call(ctx, run, pending, tools, steps)
            continue
        ctx.actual_cost = _spent(steps)
        last = steps[-1] if steps else None
        if last is not None and last.kind == Step.Kind.MODEL:
            return _answer(run, last, steps)
        if any(step.kind == Step.Kind.TOOL and (step.result or {}).get("stop_run") for step in steps):
            raise registry.TaskStopped("an approver rejected a tool call and stopped the run")
        settings_of_tenant = configuration.current(run.tenant_id)  # read each turn: a change applies at once
        _check_limits(run, parameters, steps, max_steps, ctx.actual_cost, settings_of_tenant)
        _model_turn(ctx, run, parameters, tools, steps, settings_of_tenant)


def _answer(run, last: AgentRunStep, steps) -> dict:
    model_steps = [step for step in steps if step.kind == Step.Kind.MODEL]
    tool_steps = [step for step in steps if step.kind == Step.Kind.TOOL]
    return {"answer": last.text, "model_turns": len(model_steps), "tool_calls": len(tool_steps),
            "input_tokens": sum(s.input_tokens for s in model_steps),
            "output_tokens": sum(s.output_tokens for s in model_steps), "cost": str(_spent(steps))}


def _check_limits(run, parameters, steps, max_steps: int, spent: Decimal, llm_settings: dict) -> None:
    turns = sum(1 for step in steps if step.kind == Step.Kind.MODEL)
    if turns >= max_steps:
        raise registry.TaskStopped(f"max_steps reached: {turns} model turns of {max_steps} allowed")
    max_cost = parameters.get("max_cost")
    if max_cost is not None and spent >= Decimal(str(max_cost)):
        raise registry.TaskStopped(f"max_cost reached: {spent} spent of {max_cost} allowed")
    per_run = llm_settings.get("max_cost_per_run")
    if per_run is not None and spent >= Decimal(str(per_run)):
        raise registry.TaskStopped(f"the tenant's max_cost_per_run of {per_run} is reached: {spent} spent "
                                   "(its llm configuration)")
    policy, _ = governance_selectors.policy_current(tenant_id=run.tenant_id)
    hard_limit = policy.get("hard_cost_limit")
    if hard_limit is not None and spent >= Decimal(str(hard_limit)):
        raise registry.TaskStopped(f"the tenant's hard cost limit of {hard_limit} is reached: {spent} spent")


def _model_turn(ctx, run, parameters, tools, steps, llm_settings: dict) -> None:
    """Ask the model for the next turn and record it with its tool calls, in one commit."""
    seq = (steps[-1].seq + 1) if steps else 1
    # One model call, retries included, must end well inside the run's time limit: past the deadline it
    # is LLMUnavailable, and the run is retried from this step rather than killed mid-step.
    turn = llm.complete(messages=transcript(run, steps), tools=tool_specs(tools), system=SYSTEM_PROMPT,
                        model=parameters.get("model") or llm_settings.get("model"), idempotency_key=f"{run.pk}:{seq}",
                        deadline=time.monotonic() + MODEL_CALL_SECONDS)
    cost = llm.cost(turn.usage, turn.model, llm_settings.get("prices"))
    with transaction.atomic():
        Step.objects.create(task=run, seq=seq, turn=seq, kind=Step.Kind.MODEL, text=turn.text, model=turn.model,
                            input_tokens=turn.usage.input_tokens, output_tokens=turn.usage.output_tokens,
                            cached_tokens=turn.usage.cached_tokens, cost=cost)
        for offset, call in enumerate(turn.tool_calls, start=1):
            Step.objects.create(task=run, seq=seq + offset, turn=seq, kind=Step.Kind.TOOL, tool_call_id=call.id,
                                tool=call.name, requested_arguments=call.arguments, arguments=call.arguments,
                                status=Step.ToolStatus.PENDING)


def _done(step: AgentRunStep, content: str, result=None) -> None:
    Step.objects.filter(pk=step.pk).update(status=Step.ToolStatus.DONE, content=content[:TOOL_RESULT_CHARS],
                                           result=result, finished_at=timezone.now())


def _advance_tool_call(ctx, run: AgentTask, step: AgentRunStep, tools, steps) -> None:
    """One move of a tool call: decide it, learn the decision of its escalation, or run it."""
    if step.status == Step.ToolStatus.PENDING:
        _decide_tool_call(run, step, tools, steps)
    elif step.status == Step.ToolStatus.AWAITING_APPROVAL:
        _apply_escalation(run, step)
    elif step.status == Step.ToolStatus.APPROVED:
        _run_tool_call(ctx, run, step)


def _decide_tool_call(run: AgentTask, step: AgentRunStep, tools, steps) -> None:
    tool = next((tool for tool in tools if tool.name == step.tool), None)
    if tool is None:
        _done(step, f"error: there is no tool {step.tool!r} you may use; use one of "
                    f"{', '.join(t.name for t in tools) or 'none'}.")
        return
    errors = tool.validate(step.arguments or {})
    if errors:
        listed = "; ".join(f"{where or '(arguments)'}: {', '.join(texts)}" for where, texts in errors.items())
        _done(step, f"error: invalid arguments for {tool.name}: {listed}")
        return
    risk, external = tool.current_risk()
    facts = TaskFacts(task_type=f"tool:{tool.name}", risk=risk, external_side_effects=external,
                      estimated_cost=tool.default_cost)
    reason = next((s.text for s in steps if s.seq == step.turn), "")
    with transaction.atomic():
        decision, policy, version = governance.decision_make(tenant_id=run.tenant_id, facts=facts, task_id=run.pk,
                                                             step=step.seq)
        audit_record(tenant_id=run.tenant_id, actor="agent", action="agent.tool_call", object_type="task",
                     object_id=run.pk, correlation_id=run.correlation_id,
                     after={"step": step.seq, "tool": tool.name, "arguments": step.arguments,
                            "decision": decision.outcome, "reasons": decision.reasons, "policy_version": version})
        update = {"decision": decision.outcome, "decision_reasons": decision.reasons}
        if decision.outcome == ALLOW:
            Step.objects.filter(pk=step.pk).update(status=Step.ToolStatus.APPROVED, **update)
        elif decision.outcome == DENY:
            Step.objects.filter(pk=step.pk).update(**update)
            _done(step, f"denied by policy: {'; '.join(decision.reasons)}. Do not call {tool.name} this way again.")
        else:
            escalation = governance.escalation_open(
                tenant_id=run.tenant_id, task_id=run.pk, facts=facts, requester=run.submitter, summary=reason[:2000],
                parameters=step.arguments or {}, reasons=decision.reasons, policy=policy, policy_version=version,
                correlation_id=run.correlation_id, step=step.seq, tool=tool.name, agent_reason=reason,
                arguments_schema=tool.schema, channel=run.channel)
            Step.objects.filter(pk=step.pk).update(status=Step.ToolStatus.AWAITING_APPROVAL,
                                                   escalation_id=escalation.pk, **update)
    step.refresh_from_db()
    if step.status == Step.ToolStatus.AWAITING_APPROVAL:
        raise registry.TaskPaused(step.escalation_id)


def _apply_escalation(run: AgentTask, step: AgentRunStep) -> None:
    """Resumed after a decision on the step's escalation chain: read it (an open one pauses again)."""
    escalation = (Escalation.objects.filter(task_id=run.pk, step=step.seq).exclude(status=Escalation.Status.ESCALATED)
                  .select_related("decided_by").order_by("-created_at").first())
    if escalation is None or escalation.status == Escalation.Status.OPEN:
        raise registry.TaskPaused(escalation.pk if escalation else step.escalation_id)
    who = escalation.decided_by.get_username() if escalation.decided_by_id else "nobody"
    status = escalation.status
    if status == Escalation.Status.APPROVED:
        arguments = escalation.decision_arguments if escalation.decision_arguments is not None else step.arguments
        Step.objects.filter(pk=step.pk).update(status=Step.ToolStatus.APPROVED, arguments=arguments)
    elif status == Escalation.Status.REPLIED:
        _done(step, f"{who} did not run {step.tool} and answered instead: {escalation.decision_message}")
    elif status == Escalation.Status.REJECTED:
        stop = escalation.stop_run
        _done(step, f"{who} rejected this call to {step.tool}: {escalation.decision_reason}"
                    + (" The run is stopped." if stop else ""), result={"stop_run": True} if stop else None)
    else:  # expired (the ladder's default is to reject) or withdrawn
        _done(step, f"nobody approved this call to {step.tool} before its deadline; it did not run.")


def _run_tool_call(ctx, run: AgentTask, step: AgentRunStep) -> None:
    """Run an approved call once: its idempotency key makes a repeat after a lost worker harmless."""
    tool = registry.get_tool(step.tool)
    tool_ctx = ToolContext(task_id=run.pk, tenant_id=run.tenant_id, correlation_id=run.correlation_id,
                           idempotency_key=f"{run.pk}:{step.seq}", check_cancelled=ctx.check_cancelled)
    try:
        result = tool.handler(tool_ctx, step.arguments or {})
        result = json.loads(json.dumps(result, default=str))
        content = json.dumps(result, ensure_ascii=False)
    except (registry.TaskCancelled, SoftTimeLimitExceeded):
        raise  # the run's own end, not the tool's failure
    except registry.RetryableError:
        raise  # the whole run is retried with backoff, and resumes at this step
    except Exception as exc:  # the tool failed: the model is told and goes on
        logger.info("tool %s of run %s failed: %s", step.tool, run.pk, exc)
        result, content = {"error": f"{type(exc).__name__}: {exc}"[:2000]}, f"error: {exc}"[:2000]
    with transaction.atomic():
        _done(step, content, result=result)
        receipt = tool.receipt_of(result) if "error" not in result else None
        audit_record(tenant_id=run.tenant_id, actor="agent", action="agent.tool_result", object_type="task",
                     object_id=run.pk, correlation_id=run.correlation_id,
                     after={"step": step.seq, "tool": step.tool, "arguments": step.arguments,
                            "outcome": "failed" if "error" in result else "succeeded",
                            **({"receipt": receipt} if receipt else {})})
