"""The one way Emma calls a model: the provider's adapter inside our retry loop and the provider's
circuit breaker (core.breaker, shared by every worker).

- Up to LLM_MAX_RETRIES retries of an attempt that failed in a way worth another (429, 5xx, a timeout,
  a refused connection), each after the wait the provider asked for (Retry-After, at most a minute) or
  an exponential backoff with jitter. The SDKs' own retries are off, so every attempt passes the breaker.
- The breaker opens after LLM_BREAKER_THRESHOLD consecutive failed attempts across all workers; while it
  is open a call fails at once with LLMUnavailable and the provider is left alone.
- A refusal (a 4xx other than 408/429, an answer in an unknown shape) is LLMRefused at once: the provider
  is up (it answered), the request is wrong.
- `deadline` (time.monotonic()) bounds the whole call, retries included, so a task's time limit is never
  spent waiting on a model: no retry starts that could not finish in time."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from django.conf import settings

from core import queueing
from core.breaker import Breaker
from emma.llm.base import RETRY_AFTER_CAP_SECONDS, LLMRefused, LLMUnavailable, ModelTurn, ToolSpec, Transient, Usage

logger = logging.getLogger(__name__)

PROVIDERS = ("openai", "anthropic")
RETRY_BASE_SECONDS = 1.0  # backoff without Retry-After: about 1, 2, 4 s
MIN_ATTEMPT_SECONDS = 1.0  # an attempt with less time than this left is not started
_MILLION = Decimal(1_000_000)


def configured() -> str | None:
    """None when a model can be called; else the setting that is missing."""
    provider = settings.LLM_PROVIDER
    if provider not in PROVIDERS:
        return "LLM_PROVIDER"
    if settings.LLM_BASE_URL:
        return None
    if provider == "anthropic":  # the SDK's default host, which needs a key
        return None if settings.LLM_API_KEY else "LLM_API_KEY"
    return "LLM_BASE_URL"


def breaker(provider: str | None = None) -> Breaker:
    """The provider's breaker, with this moment's LLM_BREAKER_* numbers."""
    return Breaker(f"llm-{provider or settings.LLM_PROVIDER}", threshold=settings.LLM_BREAKER_THRESHOLD,
                   cooldown_seconds=settings.LLM_BREAKER_COOLDOWN_SECONDS)


def _adapter(provider: str):
    # Imported on first use: the SDKs are heavy and most processes never call a model.
    if provider == "anthropic":
        from emma.llm import anthropic as adapter
    else:
        from emma.llm import openai as adapter
    return adapter


def complete(*, messages: list[dict], tools: list[ToolSpec] = (), system: str = "", model: str | None = None,
             max_tokens: int = 1024, idempotency_key: str = "", deadline: float | None = None) -> ModelTurn:
    """The model's next turn for the neutral `messages`; LLMUnavailable (retry later) or LLMRefused."""
    missing = configured()
    if missing:
        raise LLMRefused(f"no LLM is configured: set {missing}")
    provider = settings.LLM_PROVIDER
    adapter = _adapter(provider)
    where = f"the {provider} LLM at {adapter.base_url_of(settings.LLM_BASE_URL)}"
    model = model or settings.LLM_MODEL
    circuit = breaker(provider)
    retries = max(0, settings.LLM_MAX_RETRIES)
    last: Transient | None = None
    made = 0
    while made <= retries:
        timeout = settings.LLM_TIMEOUT_SECONDS
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining < MIN_ATTEMPT_SECONDS:
                break
            timeout = min(timeout, remaining)
        gate = circuit.acquire()
        if not gate.allowed:
            wait = f"; it is tried again in {max(0.0, gate.retry_at - time.time()):.0f}s" if gate.retry_at else ""
            raise LLMUnavailable(f"{where} is not called: its circuit is {gate.state} after repeated failures"
                                 f"{wait}" + (f" (last: {last})" if last else ""))
        made += 1
        try:
            turn = adapter.call(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, model=model,
                                system=system, messages=list(messages), tools=list(tools), max_tokens=max_tokens,
                                timeout=timeout, idempotency_key=idempotency_key)
        except Transient as exc:
            circuit.record_failure(probe=gate.probe)
            last = exc
            if made > retries:
                break
            wait = exc.retry_after if exc.retry_after is not None else queueing.backoff_seconds(
                made, base=RETRY_BASE_SECONDS, cap=RETRY_AFTER_CAP_SECONDS)
            if deadline is not None and time.monotonic() + wait + MIN_ATTEMPT_SECONDS > deadline:
                break
            logger.warning("%s failed (attempt %d of %d), retrying in %.1fs: %s", where, made, retries + 1, wait,
                           exc)
            time.sleep(wait)
            continue
        except LLMRefused as exc:
            circuit.record_success()  # it answered: the provider is up, this request is wrong
            raise LLMRefused(f"{where} {exc}") from exc
        except BaseException:  # a bug of ours (or a task's time limit): the provider is not to blame
            if gate.probe:
                circuit.release_probe()
            raise
        circuit.record_success()
        return turn
    if last is None:
        raise LLMUnavailable(f"{where} is not called: the call's time ran out")
    raise LLMUnavailable(f"{where} {last} (gave up after {made} attempt{'s' * (made > 1)})") from last


def price_of(model: str, overrides: dict | None = None) -> dict:
    """The model's prices: its own entry, else the longest entry its name starts with, else "*"; a tenant's
    `overrides` (its llm configuration's prices) over the deployment's LLM_PRICES."""
    prices = {**settings.LLM_PRICES, **(overrides or {})}
    if model in prices:
        return prices[model]
    names = [name for name in prices if name != "*" and model.startswith(name)]
    return prices[max(names, key=len)] if names else prices.get("*", {})


def cost(usage: Usage, model: str, prices: dict | None = None) -> Decimal:
    """USD for the usage, unrounded (round the total, not each turn); `prices` override LLM_PRICES."""
    price = price_of(model, prices)
    input_price = Decimal(str(price.get("input", 0)))
    cached_price = Decimal(str(price.get("cached", price.get("input", 0))))
    output_price = Decimal(str(price.get("output", 0)))
    fresh = max(usage.input_tokens - usage.cached_tokens, 0)
    return (fresh * input_price + usage.cached_tokens * cached_price + usage.output_tokens * output_price) / _MILLION
