"""Agent help with a draft: "draft from a brief" and "revise this selection", each an `agent.run` task.

- Asking (assist_request): only those who may edit the draft, while it is a draft, and while the tenant's
  `drafting` configuration has assist_enabled. The run is submitted through emma's own task submission (the
  policy decides it as any agent.run: it may run, wait for an approver, or be denied), and an AssistRequest
  row is written in the same transaction. Its instructions hold the draft's title, type, tone, audience, the
  current content (or, to revise, the selection with the paragraphs around it) and the template it came
  from, bounded to what agent.run takes; a few items of the tenant's memory found for the brief go with it
  as the run's context (memory_ids), and the agent may search for more (the memory_search tool, and only it).
- Applying (assist_apply): once the run is final, emma's on_task_finished hook queues drafting.apply_assist.
  The row's conditional move out of `pending` is the guard, taken while the draft's row is held, so the hook
  and a redelivered message make one revision. The answer replaces the whole content (draft) or the
  selection (revise) of the base revision, merged three-way with what was saved since (as a stale save is);
  edits of the same lines (`conflict`) or a draft no longer editable (`not_applied`) leave the answer on the
  row and the draft as it is. The new revision's kind is `agent`, its author the person who asked."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from core import queueing
from core.errors import Conflict, Forbidden, Invalid, NotFound
from drafting import configuration
from drafting.models import AssistRequest, Draft, Revision
from drafting.selectors import draft_for
from drafting.services import ContentTooLarge, _new_revision, content_check, three_way_merge
from emma import services as tasks
from emma.models import AgentTask

logger = logging.getLogger(__name__)
Action, Status = AssistRequest.Action, AssistRequest.Status
TaskStatus = AgentTask.Status

AGENT_TASK = "agent.run"
# agent.run's `instructions` take at most this many characters (emma.task_types.agent).
MAX_INSTRUCTIONS = 20_000
MAX_INSTRUCTION_CHARS = 5_000  # a brief or an instruction
MAX_SELECTION_CHARS = 8_000  # what one revise may rewrite
CONTEXT_CHARS_EACH_SIDE = 2_000  # of the paragraphs around a selection
MAX_TEMPLATE_CHARS = 3_000
MEMORY_ITEMS = 5
MAX_STEPS = 6
TOOLS = ["memory_search"]  # read-only; the agent writes nothing but its answer

OUTCOMES = {TaskStatus.FAILED: Status.FAILED, TaskStatus.REJECTED: Status.REJECTED,
            TaskStatus.EXPIRED: Status.EXPIRED, TaskStatus.CANCELLED: Status.CANCELLED}


# --- asking -------------------------------------------------------------------------------------------


def _paragraph_start(content: str, position: int, paragraphs: int) -> int:
    """Where the paragraph `paragraphs` before the one holding `position` starts."""
    start = position
    for _ in range(paragraphs + 1):
        found = content.rfind("\n\n", 0, max(start - 1, 0))
        if found < 0:
            return 0
        start = found + 2
    return start


def _paragraph_end(content: str, position: int, paragraphs: int) -> int:
    end = position
    for _ in range(paragraphs + 1):
        found = content.find("\n\n", end + 1 if end < len(content) else end)
        if found < 0:
            return len(content)
        end = found
    return end


def _template_text(draft: Draft) -> str:
    version = draft.template_version
    if version is None:
        return ""
    template = version.template
    text = f"\nIt was started from the template \"{template.name}\""
    text += f" ({template.description.strip()[:500]})" if template.description.strip() else ""
    return text + f", whose body is:\n<template>\n{version.body[:MAX_TEMPLATE_CHARS]}\n</template>\n"


def assist_prompt(*, draft: Draft, action: str, instruction: str, content: str, start: int | None = None,
                  end: int | None = None) -> str:
    """The run's instructions: what the document is, what to do, and as much of the text as agent.run's
    instructions may hold (the selection itself always fits: its length is checked first)."""
    about = (f"You are helping write a document in a team's drafting tool.\n"
             f"Title: {draft.title}\nType: {draft.get_doc_type_display()}\n"
             f"Tone: {draft.tone or 'not set'}\nAudience: {draft.audience or 'not set'}\n")
    about += _template_text(draft)
    if action == Action.DRAFT:
        task = (f"\nWrite the whole document, in Markdown, following this brief:\n<brief>\n{instruction}\n</brief>\n"
                "Answer with only the document's text: no preamble, no explanation, no code fence around it.")
        room = MAX_INSTRUCTIONS - len(about) - len(task) - 200
        current = content if len(content) <= room else content[:max(room, 0)] + "\n[... the rest is left out]"
        body = (f"\nThe document as it is now:\n<document>\n{current}\n</document>\n" if content.strip()
                else "\nThe document is empty so far.\n")
        return (about + body + task)[:MAX_INSTRUCTIONS]
    selection = content[start:end]
    before_start = max(_paragraph_start(content, start, 1), start - CONTEXT_CHARS_EACH_SIDE)
    after_end = min(_paragraph_end(content, end, 1), end + CONTEXT_CHARS_EACH_SIDE)
    task = (f"\nRewrite only the selected passage, following this instruction:\n<instruction>\n{instruction}\n"
            "</instruction>\nAnswer with only the new text of the selected passage, in Markdown, to replace it "
            "as it stands: no preamble, no explanation, no code fence, and not the text around it.")
    body = (f"\nThe text before the selection:\n<before>\n{content[before_start:start]}\n</before>\n"
            f"The selected passage:\n<selection>\n{selection}\n</selection>\n"
            f"The text after the selection:\n<after>\n{content[end:after_end]}\n</after>\n")
    prompt = about + body + task
    if len(prompt) > MAX_INSTRUCTIONS:  # a long template or title: the context around the selection goes first
        body = f"\nThe selected passage:\n<selection>\n{selection}\n</selection>\n"
        prompt = (about[:MAX_INSTRUCTIONS - len(body) - len(task)] + body + task)
    return prompt


def _relevant_memory(tenant_id: int, query: str) -> list[str]:
    """The ids of the tenant's few memory items most relevant to the brief; none when the tenant's daily cap of
    searches is reached or the search cannot run (the agent may still search itself)."""
    from memory import quota
    from memory.selectors import memory_search

    if quota.search_take(tenant_id) is not None:
        return []
    try:
        return [hit.id for hit in memory_search(tenant_id=tenant_id, query=query[:2000], limit=MEMORY_ITEMS)]
    except Exception:  # noqa: BLE001 - an embedder that is down costs the run its context, not the request
        logger.warning("memory search for an assist failed; the run goes without memory", exc_info=True)
        return []


def _selection_check(content: str, selection: dict | None) -> tuple[int, int]:
    if not selection:
        raise Invalid.field("selection", "Say what to revise: {start, end}, offsets in the revision's content.")
    start, end = selection["start"], selection["end"]
    if not 0 <= start < end <= len(content):
        raise Invalid.field("selection", f"Expected 0 <= start < end <= {len(content)} (the revision's length).")
    if end - start > MAX_SELECTION_CHARS:
        raise Invalid.field("selection", f"At most {MAX_SELECTION_CHARS} characters are revised at once.")
    return start, end


@transaction.atomic
def assist_request(*, user, draft_id, action: str, instruction: str, selection: dict | None = None,
                   revision: int | None = None, correlation_id: str = "") -> tuple[AssistRequest, tasks.SubmitResult]:
    """Ask an agent to write the draft from a brief or revise a selection of `revision` (default: the current
    one): an agent.run submitted as any task (decided by the policy), and its AssistRequest, in one commit."""
    draft, access = draft_for(user, draft_id, for_update=True)
    access.require("edit", "Only the draft's owner, editors and the tenant's admins may ask an agent to edit it.")
    if draft.status != Draft.Status.DRAFT:
        raise Conflict(f"The draft is {draft.status.replace('_', ' ')}: only a draft can be edited.",
                       details={"status": draft.status})
    if not configuration.assist_enabled(draft.tenant_id):
        raise Forbidden("Agent help is switched off for this tenant (assist_enabled of its drafting configuration).")
    instruction = (instruction or "").strip()
    if not instruction:
        raise Invalid.field("brief" if action == Action.DRAFT else "instruction", "Say what the agent should do.")
    number = revision or draft.revision
    base = Revision.objects.filter(draft=draft, number=number).first()
    if base is None:
        raise NotFound(f"The draft has no revision {number}.")
    start = end = None
    if action == Action.REVISE:
        start, end = _selection_check(base.content, selection)
    elif selection:
        raise Invalid.field("selection", "A draft from a brief replaces the whole content: no selection.")
    prompt = assist_prompt(draft=draft, action=action, instruction=instruction, content=base.content, start=start,
                           end=end)
    memory_ids = _relevant_memory(draft.tenant_id, f"{draft.title}\n{instruction}")
    parameters = {"instructions": prompt, "tools": TOOLS, "max_steps": MAX_STEPS}
    if memory_ids:
        parameters["context"] = {"memory_ids": memory_ids}
    verb = "write it from a brief" if action == Action.DRAFT else "revise a passage"
    submitted = tasks.task_submit(user=user, task_type=AGENT_TASK, parameters=parameters,
                                  description=f"Agent help on the draft \"{draft.title}\": {verb}. {instruction}"[:2000],
                                  correlation_id=correlation_id)
    task = submitted.task
    status = OUTCOMES.get(task.status, Status.PENDING)  # a run the policy denied is rejected already
    assist = AssistRequest.objects.create(
        tenant_id=draft.tenant_id, draft=draft, task_id=task.pk, action=action, instruction=instruction,
        selection_start=start, selection_end=end, quote=base.content[start:end] if start is not None else "",
        base_revision=base.number, requester=user, status=status,
        note=("; ".join(task.decision_reasons) if status != Status.PENDING else ""),
        finished_at=timezone.now() if status != Status.PENDING else None)
    return assist, submitted


# --- applying -----------------------------------------------------------------------------------------


def _answer_text(task: AgentTask) -> str:
    answer = (task.result or {}).get("answer") if isinstance(task.result, dict) else None
    text = str(answer or "").strip()
    # A model asked for the bare text may still wrap it in one code fence.
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        text = "\n".join(lines[1:-1]).strip()
    return text


def _with_whitespace_of(text: str, original: str) -> str:
    """`text` with the leading and trailing whitespace of the passage it replaces (its line breaks, mostly),
    so a merge sees the paragraphs around it untouched."""
    leading = original[:len(original) - len(original.lstrip())]
    trailing = original[len(original.rstrip()):]
    return leading + text + trailing


def _finish(assist: AssistRequest, status: str, **fields) -> AssistRequest:
    for name, value in {"status": status, "finished_at": timezone.now(), **fields}.items():
        setattr(assist, name, value)
    assist.save(update_fields=["status", "finished_at", *fields])
    return assist


@transaction.atomic
def assist_apply(*, task_id) -> AssistRequest | None:
    """Apply a finished run's answer to its draft, once: the guard is the row's move out of `pending`, taken
    while the draft's row is held (as every save holds it). None when there is nothing (more) to do."""
    task = AgentTask.objects.filter(pk=task_id, status__in=AgentTask.FINAL_STATUSES).first()
    assist = AssistRequest.objects.filter(task_id=task_id, status=Status.PENDING).first()
    if task is None or assist is None:
        return None
    draft = Draft.objects.select_for_update().get(pk=assist.draft_id)
    if not AssistRequest.objects.filter(pk=assist.pk, status=Status.PENDING).update(finished_at=timezone.now()):
        return None  # applied meanwhile (the hook and a redelivered message)
    if task.status != TaskStatus.SUCCEEDED:
        note = task.error or "; ".join(task.decision_reasons or []) or f"the run was {task.status}"
        return _finish(assist, OUTCOMES.get(task.status, Status.FAILED), note=note[:2000])
    answer = _answer_text(task)
    if not answer:
        return _finish(assist, Status.FAILED, note="The agent gave no answer.")
    if draft.status != Draft.Status.DRAFT:
        return _finish(assist, Status.NOT_APPLIED, result=answer,
                       note=f"The draft is {draft.status.replace('_', ' ')} now: only a draft can be edited.")
    base = Revision.objects.filter(draft=draft, number=assist.base_revision).first()
    if base is None:
        return _finish(assist, Status.CONFLICT, result=answer, note="The revision it was based on is gone.")
    if assist.action == Action.REVISE:
        start, end = assist.selection_start, assist.selection_end
        if base.content[start:end] != assist.quote:  # the base revision took more saves (coalesced) since
            return _finish(assist, Status.CONFLICT, result=answer,
                           note=f"The selected passage of revision {base.number} changed since it was asked for.")
        mine = base.content[:start] + _with_whitespace_of(answer, assist.quote) + base.content[end:]
    else:
        mine = answer if answer.endswith("\n") else answer + "\n"
    merged = draft.content != base.content
    content = three_way_merge(base.content, mine, draft.content) if merged else mine
    if content is None:
        return _finish(assist, Status.CONFLICT, result=answer,
                       note=f"Revision {draft.revision} changed the same part of the document since revision "
                            f"{base.number}; the agent's text is kept here.")
    try:
        content_check(content)
    except ContentTooLarge as exc:
        return _finish(assist, Status.NOT_APPLIED, result=answer, note=exc.message)
    saved = _new_revision(draft, user=assist.requester, content=content, kind=Revision.Kind.AGENT, checkpoint=True,
                          base_number=base.number, their_number=draft.revision if merged else None)
    return _finish(assist, Status.APPLIED, result=answer, revision=saved.revision.number, merged=merged)


def assists_settle_lost(*, older_than: timedelta = timedelta(seconds=30), limit: int = 200) -> int:
    """Requests still pending although their run ended over `older_than` ago: the hook was lost (a process
    died after the run's commit). Applied now, by the hook's own code, so once."""
    ended = AgentTask.objects.filter(status__in=AgentTask.FINAL_STATUSES,
                                     finished_at__lt=timezone.now() - older_than).values("pk")
    pending = AssistRequest.objects.filter(status=Status.PENDING, task_id__in=ended).values_list("task_id", flat=True)
    return sum(assist_apply(task_id=task_id) is not None for task_id in pending[:limit])


# --- reading ------------------------------------------------------------------------------------------


def assists_of(draft: Draft) -> QuerySet[AssistRequest]:
    """The draft's requests, newest first, each with its run's status."""
    task_status = AgentTask.objects.filter(pk=OuterRef("task_id")).values("status")[:1]
    return (AssistRequest.objects.filter(draft=draft).select_related("requester")
            .annotate(task_status=Subquery(task_status)))


# --- hooks (registered in DraftingConfig.ready) ---------------------------------------------------


def on_task_finished(*, task) -> None:
    """Emma's hook, after commit: a finished run that answers an assist request is applied by a task."""
    from drafting.tasks import apply_assist

    if task.task_type == AGENT_TASK and AssistRequest.objects.filter(task_id=task.pk, status=Status.PENDING).exists():
        queueing.publish(apply_assist, str(task.pk))
