"""Kubernetes events at a tenant's registered endpoint, /webhooks/kubernetes/<endpoint id>: the body is one Event
object as JSON (core/v1 Event: metadata.uid, involvedObject {kind, name, namespace}, reason, message, type,
firstTimestamp, lastTimestamp, count), as kubernetes-event-exporter's webhook receiver posts it with no layout,
or as an Argo Events HTTP trigger posts the event it caught (a top-level `event` object is read too).

Dedup key: metadata.uid with count (or resourceVersion): the same event seen again is a new delivery, a
redelivery of one is not; else the body's hash. Event type: `<involvedObject.kind>/<reason>`.

Engineering events, kept modest:
    Deployment ScalingReplicaSet "Scaled up replica set <rs> ..."   a deployment, keyed by the replica set (one per
                                                                   pod template, so a rollout is one row), success,
                                                                   started at firstTimestamp and no finish: every
                                                                   later scale-up of that replica set (an
                                                                   autoscaler's) says the same and moves nothing
    Rollout (Argo Rollouts) RolloutUpdated / Completed / Aborted   a deployment keyed by the rollout's revision:
                                                                   in progress, success, failure
    a Warning event with a reason in ALERT_REASONS                 an alert keyed by object and reason, firing
Service: the involved object's name (for a pod, its `app.kubernetes.io/name` or `app` label when the exporter
added labels). Environment: the namespace's, from the endpoint's `namespace_environments` option
(`shop-prod=production,shop-stg=staging`), else its `environment` option (default production)."""

import re

from integrations import providers
from integrations import signals as s
from integrations.kubernetes import verify
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import Unusable, body_hash, first_of, json_body

SCALED_UP = re.compile(r"Scaled up replica set (\S+)")
REVISION = re.compile(r"revision (\d+)")
ROLLOUT_REASONS = {"RolloutUpdated": s.IN_PROGRESS, "RolloutCompleted": s.SUCCESS, "RolloutAborted": s.FAILURE}
ALERT_REASONS = {"BackOff", "Failed", "Unhealthy", "FailedScheduling", "FailedMount", "FailedAttachVolume",
                 "FailedCreate", "FailedCreatePodSandBox", "OOMKilling", "Evicted", "NodeNotReady",
                 "ProgressDeadlineExceeded"}


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def event_of(payload) -> dict:
    """The Event object: the body itself, or its `event` (an Argo Events trigger's payload)."""
    if isinstance(payload, dict) and isinstance(payload.get("involvedObject"), dict):
        return payload
    inner = payload.get("event") if isinstance(payload, dict) else None
    return inner if isinstance(inner, dict) and isinstance(inner.get("involvedObject"), dict) else {}


def parse(request) -> dict:
    payload = json_body(request)
    if not event_of(payload):
        raise Unusable("The body is not a Kubernetes Event (no involvedObject).")
    return payload


def event_id(request, payload) -> str:
    event = event_of(payload)
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    uid = metadata.get("uid")
    if not uid:
        return ""
    seen = event.get("count") or metadata.get("resourceVersion") or ""
    return f"{uid}:{seen}"[:255]


def event_type(request, payload) -> str:
    event = event_of(payload)
    return f"{event['involvedObject'].get('kind', '')}/{event.get('reason', '')}"[:100]


def environment_of(delivery: WebhookDelivery, namespace: str) -> str:
    """The namespace's environment from the endpoint's options, else its `environment`, else production."""
    options = providers.endpoint_options(delivery)
    for pair in (options.get("namespace_environments") or "").split(","):
        name, _, environment = pair.partition("=")
        if name.strip() and name.strip() == namespace and environment.strip():
            return environment.strip()
    return options.get("environment") or s.PRODUCTION


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """A Deployment scaling up a new replica set or an Argo Rollout changing state is a deployment; a Warning
    event with a known failure reason is an alert. Any JSON is read without error: a field of the wrong type is as
    if missing."""
    event = event_of(payload)
    involved = obj(event.get("involvedObject"))
    kind, name, namespace = text(involved.get("kind")), text(involved.get("name")), text(involved.get("namespace"))
    reason, message = text(event.get("reason")), text(event.get("message"))
    first = event.get("firstTimestamp") or event.get("eventTime") or obj(event.get("metadata")).get(
        "creationTimestamp")
    last = event.get("lastTimestamp") or first
    environment = environment_of(delivery, namespace)
    if kind == "Deployment" and reason == "ScalingReplicaSet":
        scaled = SCALED_UP.search(message)
        if not scaled:  # scaling an old replica set down is the same rollout ending, not a new one
            return []
        # Only when it began: an autoscaler scaling the same replica set up again later is the same rollout, and
        # the store keeps the earliest start, so the rollout's time stays when it happened.
        return [s.deployment(key=f"{namespace}/{name}/{scaled.group(1)}", service=name, environment=environment,
                             status=s.SUCCESS, started_at=first, title=message)]
    if kind == "Rollout" and reason in ROLLOUT_REASONS:
        revision = REVISION.search(message)
        if not revision:
            return []
        status = ROLLOUT_REASONS[reason]
        return [s.deployment(key=f"{namespace}/{name}/revision-{revision.group(1)}", service=name,
                             environment=environment, status=status, title=message,
                             started_at=last if status == s.IN_PROGRESS else None,
                             finished_at=None if status == s.IN_PROGRESS else last)]
    if event.get("type") == "Warning" and reason in ALERT_REASONS:
        labels = obj(involved.get("labels"))
        service = text(labels.get("app.kubernetes.io/name")) or text(labels.get("app")) or name
        return [s.alert(key=f"{namespace}/{kind}/{name}/{reason}", title=f"{reason}: {message}", status="firing",
                        at=last, service=service, severity="warning")]
    return []


KUBERNETES = providers.register(WebhookProvider(
    name="kubernetes",
    title="Kubernetes",
    switch="kubernetes",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=parse, dedup_key=first_of(event_id, body_hash),
                      event_type=event_type),
        describe=lambda options: "the secret as a bearer token (Authorization: Bearer <secret>), or at the end of "
                                 "the URL",
        signs=False,
        options=(Option("environment", "The environment the cluster's deployments go to (production).",
                        default=s.PRODUCTION),
                 Option("namespace_environments", "Namespaces and their environments: ns=env,ns2=env2.",
                        pattern=r"^[a-z0-9-]{1,63}=[A-Za-z0-9._-]{1,50}(,[a-z0-9-]{1,63}=[A-Za-z0-9._-]{1,50}){0,49}$"),
                 )),
))
