"""Amazon ECS service deployments at a tenant's registered endpoint, /webhooks/ecs/<endpoint id>: the body is the
EventBridge event as the rule matched it (no input transformer): `id`, `detail-type` "ECS Deployment State
Change", `source` aws.ecs, `time`, `resources` [the service's ARN], `detail` {eventName, deploymentId, updatedAt,
reason}. https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html

Dedup key: the event's `id` (else the body's hash). Event type: detail.eventName.
Engineering events: each deployment state change is a deployment keyed by deploymentId, its service the name in
the service ARN, its environment the endpoint's `environment` option (default production):
SERVICE_DEPLOYMENT_IN_PROGRESS in progress (started at updatedAt), _COMPLETED success and _FAILED failure (finished
at updatedAt). Other ECS events are stored and summarised, nothing more."""

from integrations import providers
from integrations import signals as s
from integrations.ecs import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import body_hash, first_of, json_body, payload_field

DEPLOYMENT_STATES = {"SERVICE_DEPLOYMENT_IN_PROGRESS": s.IN_PROGRESS, "SERVICE_DEPLOYMENT_COMPLETED": s.SUCCESS,
                     "SERVICE_DEPLOYMENT_FAILED": s.FAILURE}


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def service_name(arn: str) -> str:
    """arn:aws:ecs:<region>:<account>:service/<cluster>/<service> (or the older service/<service>): the service."""
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if ":service/" in arn else ""


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """A service deployment's state change is a deployment."""
    detail = payload.get("detail") if isinstance(payload.get("detail"), dict) else {}
    status = DEPLOYMENT_STATES.get(text(detail.get("eventName")))
    if payload.get("source") != "aws.ecs" or status is None or not text(detail.get("deploymentId")):
        return []
    resources = payload.get("resources") if isinstance(payload.get("resources"), list) else []
    arns = [arn for arn in resources if isinstance(arn, str) and ":service/" in arn]
    changed_at = detail.get("updatedAt") or payload.get("time")
    options = providers.endpoint_options(delivery)
    return [s.deployment(key=text(detail["deploymentId"]), service=service_name(arns[0]) if arns else "",
                         environment=options.get("environment") or s.PRODUCTION, status=status,
                         started_at=changed_at if status == s.IN_PROGRESS else None,
                         finished_at=None if status == s.IN_PROGRESS else changed_at,
                         title=text(detail.get("reason")))]


ECS = providers.register(WebhookProvider(
    name="ecs",
    title="Amazon ECS",
    switch="ecs",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(payload_field("id"), body_hash),
                      event_type=payload_field("detail", "eventName", default="event")),
        describe=lambda options: f"the secret in header {options.get('header') or verify.DEFAULT_HEADER} (the API "
                                 "destination connection's API key), or at the end of the URL",
        signs=False,
        options=(Option("header", "The header the API destination's connection sends the key in.",
                        default=verify.DEFAULT_HEADER),
                 Option("environment", "The environment these services' deployments go to (production).",
                        default=s.PRODUCTION))),
))
