"""The `research` task type: answer a question from the tenant's memories, citing the ones used.

With an LLM configured (emma.llm: LLM_PROVIDER, LLM_BASE_URL / LLM_API_KEY), the model writes the answer
from the retrieved memories. Then the memories leave the system, so the task is `medium` risk with
external side effects. Without one, the answer is extractive: the retrieved memories' sentences
closest in meaning to the question, each with its memory id; `low` risk, nothing leaves.
Either way the answer is recorded as the task's episodic result event."""

from __future__ import annotations

import re
import time

import numpy as np

from emma import llm
from emma.registry import task_type
from governance.summaries import quoted
from memory import selectors as memory_selectors
from memory import services as memory_services
from memory.embedders import get_embedder

DEFAULT_LIMIT = 5
# Each memory's share of the prompt; a 20,000-character note must not crowd the others out.
PROMPT_CHARS_PER_MEMORY = 2000
EXTRACTIVE_SENTENCES = 3
RELEVANCE_RATIO = 0.6  # keep sentences scoring at least this share of the best sentence's score
ANSWER_MAX_TOKENS = 1024
# The model's share of the task's 120 s time limit, retries included: past it the task is retried later
# (LLMUnavailable) instead of failing on its time limit.
LLM_BUDGET_SECONDS = 90
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CITATION = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

SYSTEM_PROMPT = (
    "You answer questions for a team using only the memories given to you. Each memory starts with its id "
    "in square brackets. Cite every memory you use by writing its id in square brackets, like [id], right "
    "after the statement it supports. If the memories do not answer the question, say so plainly.")

SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "minLength": 1, "maxLength": 2000},
        "limit": {"type": "integer", "minimum": 1, "maximum": 20},
    },
    "required": ["question"],
    "additionalProperties": False,
}


def llm_configured() -> bool:
    return llm.configured() is None


def research_risk() -> tuple[str, bool]:
    """Data leaves the system only when an LLM is configured: then medium risk, external side effects."""
    return ("medium", True) if llm_configured() else ("low", False)


@task_type("research", risk="low", schema=SCHEMA, risk_for=research_risk, time_limit=120, max_attempts=3, tool=True,
           headline=lambda a: f"answer {quoted(a['question'])} from the team's memory",
           description="Answers `question` from the tenant's most relevant memories (up to `limit`), citing "
                       "their ids; with an LLM configured the model writes the answer, else the most relevant "
                       "sentences are quoted.")
def research(ctx, parameters):
    question = parameters["question"]
    question_vector = get_embedder().embed_one(question)
    hits = memory_selectors.memory_search(tenant_id=ctx.tenant_id, query=question, query_embedding=question_vector,
                                          limit=parameters.get("limit", DEFAULT_LIMIT))
    ctx.check_cancelled()
    if not hits:
        result = {"answer": "No memories were found for this question.", "citations": [], "mode": "none",
                  "memories": []}
    elif llm_configured():
        result = _llm_answer(question, hits, idempotency_key=f"research-{ctx.task_id}-{ctx.attempt}")
    else:
        result = _extractive_answer(question_vector, hits)
    result["question"] = question
    result.setdefault("memories", [{"id": hit.id, "score": round(hit.score, 6)} for hit in hits])
    memory_services.episode_record(
        tenant_id=ctx.tenant_id, kind="task_result", source="research", actor="research", content=result["answer"],
        metadata={"question": question, "citations": result["citations"], "mode": result["mode"]},
        task_id=ctx.task_id)
    return result


def _extractive_answer(question_vector, hits) -> dict:
    """The sentences of the retrieved memories nearest the question in meaning, best first."""
    sentences = [(hit.id, sentence.strip()) for hit in hits for sentence in _SENTENCE_END.split(hit.content)
                 if len(sentence.strip()) > 2]
    if not sentences:
        sentences = [(hit.id, hit.content.strip()) for hit in hits]
    scores = get_embedder().embed([text for _, text in sentences]) @ np.asarray(question_vector, dtype=np.float32)
    best = [int(i) for i in np.argsort(-scores, kind="stable")[:EXTRACTIVE_SENTENCES]]
    # A sentence far less relevant than the best one would only pad the answer.
    best = [i for i in best if scores[i] >= RELEVANCE_RATIO * scores[best[0]]]
    chosen = [{"memory_id": sentences[i][0], "text": sentences[i][1], "score": round(float(scores[i]), 4)}
              for i in best]
    answer = " ".join(f"{item['text']} [{item['memory_id']}]" for item in chosen)
    return {"answer": answer, "citations": list(dict.fromkeys(item["memory_id"] for item in chosen)),
            "mode": "extractive", "sentences": chosen}


def _llm_answer(question: str, hits, *, idempotency_key: str) -> dict:
    """Ask the configured model; the citations are the retrieved ids its answer names. A model that is
    down or slow raises LLMUnavailable (the task is retried later); one that refuses, LLMRefused."""
    memories = "\n\n".join(f"[{hit.id}] {hit.content[:PROMPT_CHARS_PER_MEMORY]}" for hit in hits)
    turn = llm.complete(system=SYSTEM_PROMPT,
                        messages=[{"role": "user", "content": f"Memories:\n\n{memories}\n\nQuestion: {question}"}],
                        max_tokens=ANSWER_MAX_TOKENS, idempotency_key=idempotency_key,
                        deadline=time.monotonic() + LLM_BUDGET_SECONDS)
    retrieved = {hit.id.lower() for hit in hits}
    cited = [found.lower() for found in _CITATION.findall(turn.text) if found.lower() in retrieved]
    usage = {"input_tokens": turn.usage.input_tokens, "output_tokens": turn.usage.output_tokens,
             "cached_tokens": turn.usage.cached_tokens, "cost_usd": str(llm.cost(turn.usage, turn.model))}
    return {"answer": turn.text, "citations": list(dict.fromkeys(cited)), "mode": "llm", "model": turn.model,
            "usage": usage}
