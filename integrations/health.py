"""The integrations' part of /health: each outbound provider's circuit breaker. One Redis round trip;
never raises. An open or half-open breaker makes the check `fail`, so /health says `degraded`
(Emma still accepts work; the provider's messages wait in the outbox)."""

import time

from integrations import breaker, outbound
from integrations.models import Channel


def breakers_check() -> dict:
    started = time.perf_counter()
    try:
        states = breaker.states()
        for channel in Channel.values:
            states[outbound.PROVIDER_OF[channel]]["configured"] = outbound.channel_available(channel)
        not_closed = [provider for provider, entry in states.items() if entry["state"] != breaker.CLOSED]
        result = {"status": "fail" if not_closed else "ok", "breakers": states}
        if not_closed:
            result["error"] = (f"circuit {' and '.join(states[p]['state'] + ' for ' + p for p in not_closed)}: "
                               "messages wait in the outbox and are retried")
    except Exception as exc:  # a check reports, it never raises
        result = {"status": "fail", "error": f"breaker state unavailable: {type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result
