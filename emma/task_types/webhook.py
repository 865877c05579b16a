import httpx

from emma.registry import RetryableError, task_type
from governance.summaries import host


@task_type(
    "webhook.post", risk="medium", external_side_effects=True, default_cost=0, time_limit=60, max_attempts=5,
    receipt=lambda result: {"status_code": result["status_code"]}, tool=True,
    headline=lambda a: f"POST to {host(a['url'])}", summary_template="emma/summaries/webhook_post.html",
    description="POSTs a JSON body to a URL (an external side effect). The task id (or an agent run's id and "
                "step) is sent as the Idempotency-Key header, so a retry is recognisable to the receiver.",
    schema={"type": "object", "additionalProperties": False, "required": ["url"],
            "properties": {"url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
                           "body": {"type": ["object", "array"]},
                           "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 30}}})
def post(ctx, parameters):
    response = send(parameters["url"], parameters.get("body", {}), idempotency_key=ctx.idempotency_key,
                    correlation_id=ctx.correlation_id, timeout=parameters.get("timeout_seconds", 10))
    return {"status_code": response.status_code, "response": response.text[:2000]}


def send(url: str, body, *, idempotency_key: str, correlation_id: str, timeout: float = 10) -> httpx.Response:
    """POST the body as JSON with the Idempotency-Key a retry repeats; a transport error, a 5xx or a 429 is
    worth another try (RetryableError), another 4xx is the receiver's refusal (ValueError)."""
    try:
        response = httpx.post(url, json=body, timeout=timeout,
                              headers={"Idempotency-Key": idempotency_key, "X-Correlation-ID": correlation_id})
    except httpx.TransportError as exc:
        raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryableError(f"the receiver answered {response.status_code}")
    if response.status_code >= 400:
        raise ValueError(f"the receiver refused the request: {response.status_code} {response.text[:200]}")
    return response
