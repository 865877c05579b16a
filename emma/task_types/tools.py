"""Tools agents may call that are not task types of their own: memory and a read-only web fetch."""

from urllib.parse import urlsplit

import httpx

from emma.registry import RetryableError, task_type
from governance.selectors import policy_current
from governance.summaries import quoted

HTTP_GET_MAX_BYTES = 100_000


@task_type("memory_search", risk="low", task=False, tool=True,
           headline=lambda a: f"search the team's memory for {quoted(a['query'])}",
           description="Searches the team's memory by meaning and words; the best `limit` items with their ids.",
           schema={"type": "object", "additionalProperties": False, "required": ["query"],
                   "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 2000},
                                  "limit": {"type": "integer", "minimum": 1, "maximum": 20}}})
def memory_search(ctx, arguments):
    from memory.selectors import memory_search as search

    hits = search(tenant_id=ctx.tenant_id, query=arguments["query"], limit=arguments.get("limit", 5))
    return {"items": [{"id": hit.id, "content": hit.content[:2000], "source": hit.source} for hit in hits]}


@task_type("memory_store", risk="low", task=False, tool=True,
           headline=lambda a: f"store a note in the team's memory: {quoted(a['content'])}",
           description="Stores a note in the team's memory (the same content again is the same item).",
           schema={"type": "object", "additionalProperties": False, "required": ["content"],
                   "properties": {"content": {"type": "string", "minLength": 1, "maxLength": 20000},
                                  "metadata": {"type": "object"}}})
def memory_store(ctx, arguments):
    from memory.services import memory_store as store

    stored = store(tenant_id=ctx.tenant_id, content=arguments["content"], source="agent",
                   metadata=arguments.get("metadata") or {}, task_id=ctx.task_id)
    return {"id": str(stored.id), "created": stored.created}


SESSION = {"type": "string", "minLength": 1, "maxLength": 128}


@task_type("working_memory_read", risk="low", task=False, tool=True,
           headline=lambda a: f"read the working-memory session {a['session_id']}",
           description="Reads the entries of a working-memory session (a conversation's short-term memory).",
           schema={"type": "object", "additionalProperties": False, "required": ["session_id"],
                   "properties": {"session_id": SESSION}})
def working_memory_read(ctx, arguments):
    from memory.working import working_get

    return {"entries": working_get(tenant_id=ctx.tenant_id, session_id=arguments["session_id"])["entries"]}


@task_type("working_memory_append", risk="low", task=False, tool=True,
           headline=lambda a: f"add to the working-memory session {a['session_id']}: {quoted(a['content'])}",
           description="Appends an entry to a working-memory session.",
           schema={"type": "object", "additionalProperties": False, "required": ["session_id", "content"],
                   "properties": {"session_id": SESSION, "content": {"type": "string", "minLength": 1,
                                                                      "maxLength": 20000}}})
def working_memory_append(ctx, arguments):
    from memory.working import working_append

    state = working_append(tenant_id=ctx.tenant_id, session_id=arguments["session_id"], role="agent",
                           content=arguments["content"])
    return {"entries": len(state["entries"])}


@task_type("http_get", risk="low", task=False, tool=True, headline=lambda a: f"read {a['url']}",
           description="GETs a URL on a host the tenant's policy allows (`http_allowed_hosts`); the start of the "
                       "body as text.",
           schema={"type": "object", "additionalProperties": False, "required": ["url"],
                   "properties": {"url": {"type": "string", "pattern": "^https?://", "maxLength": 2000}}})
def http_get(ctx, arguments):
    url = arguments["url"]
    host = (urlsplit(url).hostname or "").lower()
    policy, _ = policy_current(tenant_id=ctx.tenant_id)
    allowed = {name.lower() for name in policy.get("http_allowed_hosts") or []}
    if host not in allowed:
        raise ValueError(f"{host or url} is not an allowed host (the policy's http_allowed_hosts: "
                         f"{', '.join(sorted(allowed)) or 'none'})")
    try:
        response = httpx.get(url, timeout=10, follow_redirects=False, headers={"X-Correlation-ID": ctx.correlation_id})
    except httpx.TransportError as exc:
        raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
    return {"status_code": response.status_code, "body": response.text[:HTTP_GET_MAX_BYTES]}
