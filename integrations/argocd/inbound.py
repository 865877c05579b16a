"""Argo CD syncs, from Argo CD notifications (argocd-notifications-cm), on a tenant's registered endpoint.
https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/

The tenant adds a webhook service, a template with the JSON body Emma reads, and triggers that use it:

    service.webhook.emma: |
      url: https://<emma>/webhooks/argocd/<endpoint id>
      headers:
      - name: X-Emma-Webhook-Secret
        value: $emma-webhook-secret          # the endpoint's secret, in argocd-notifications-secret
    template.emma-sync: |
      webhook:
        emma:
          method: POST
          body: |
            {
              "app": "{{.app.metadata.name}}",
              "project": "{{.app.spec.project}}",
              "environment": "{{index .app.metadata.labels "environment"}}",
              "revision": "{{.app.status.sync.revision}}",
              "sync": {"status": "{{.app.status.sync.status}}"},
              "health": {"status": "{{.app.status.health.status}}"},
              "operationState": {
                "phase": "{{.app.status.operationState.phase}}",
                "startedAt": "{{.app.status.operationState.startedAt}}",
                "finishedAt": "{{.app.status.operationState.finishedAt}}",
                "message": "{{.app.status.operationState.message}}"
              },
              "destination": {"server": "{{.app.spec.destination.server}}",
                              "namespace": "{{.app.spec.destination.namespace}}"},
              "repoURL": "{{.app.spec.source.repoURL}}",
              "url": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"
            }
    trigger.on-sync-running: |
      - when: app.status.operationState.phase in ['Running']
        send: [emma-sync]
    trigger.on-sync-succeeded: |
      - when: app.status.operationState.phase in ['Succeeded']
        send: [emma-sync]
    trigger.on-sync-failed: |
      - when: app.status.operationState.phase in ['Error', 'Failed']
        send: [emma-sync]

and subscribes applications (annotation notifications.argoproj.io/subscribe.on-sync-succeeded.emma: "", and the
same for on-sync-running and on-sync-failed). The `environment` line may be left out, or set by hand.

Dedup key: app + revision + operationState.finishedAt + phase, else the body's hash. Event type: "sync." + the
phase, lower-cased (sync.succeeded, sync.failed, sync.running). Each sync is a deployment, keyed by app +
revision + operationState.startedAt: service the app's name, environment the template's `environment`, else the
endpoint's Option "environment" (default production), status from operationState.phase (Succeeded: success;
Failed and Error: failure; Running: in progress; Terminating: cancelled), sha the revision. A field Argo CD could
not fill ("<no value>") is read as empty."""

from integrations import providers
from integrations import signals as s
from integrations.argocd import verify
from integrations.providers import Endpoint, Option, Registration, WebhookProvider
from integrations.webhooks import body_hash, first_of, json_body

PHASES = {"succeeded": s.SUCCESS, "failed": s.FAILURE, "error": s.FAILURE, "running": s.IN_PROGRESS,
          "terminating": s.CANCELLED}


def text(value) -> str:
    """A template field as text; Go's "<no value>" for a field the application does not have is empty."""
    value = "" if value is None else str(value).strip()
    return "" if value == "<no value>" else value


def part(payload, name: str) -> dict:
    value = payload.get(name) if isinstance(payload, dict) else None
    return value if isinstance(value, dict) else {}


def sync_key(request, payload) -> str:
    """app + revision + finishedAt + phase: one delivery per state of one sync ("" without an app)."""
    app = text(payload.get("app"))
    operation = part(payload, "operationState")
    if not app:
        return ""
    return ":".join((app, text(payload.get("revision")), text(operation.get("finishedAt")),
                     text(operation.get("phase"))))[:255]


def event_type(request, payload) -> str:
    phase = text(part(payload, "operationState").get("phase")).lower()
    return f"sync.{phase}" if phase else "sync"


def signals(delivery, payload) -> list[s.Signal]:
    """The sync, as a deployment of the application."""
    app, revision = text(payload.get("app")), text(payload.get("revision"))
    operation = part(payload, "operationState")
    phase, started = text(operation.get("phase")), text(operation.get("startedAt"))
    if not app or not phase:
        return []
    options = providers.endpoint_options(delivery)
    status = PHASES.get(phase.lower(), s.outcome(phase))
    destination = part(payload, "destination")
    where = text(destination.get("namespace")) or text(destination.get("server"))
    health = text(part(payload, "health").get("status"))
    title = " ".join(word for word in (app, revision[:12], phase, f"({health})" if health else "",
                                       f"in {where}" if where else "") if word)
    return [s.deployment(key=f"{app}:{revision}:{started}", service=app,
                         environment=text(payload.get("environment")) or options.get("environment") or s.PRODUCTION,
                         status=status, sha=revision, started_at=started,
                         finished_at=text(operation.get("finishedAt")) if status != s.IN_PROGRESS else None,
                         repository=text(payload.get("repoURL")), title=title, url=text(payload.get("url")))]


ARGOCD = providers.register(WebhookProvider(
    name="argocd",
    title="Argo CD",
    switch="argocd",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(sync_key, body_hash),
                      event_type=event_type),
        describe=verify.describe,
        signs=False,
        options=(
            Option("header", "The name of the header Argo CD's webhook service sends the secret in (letters, "
                             "digits, dashes).", default=verify.DEFAULT_HEADER, pattern=r"^[A-Za-z0-9-]{1,100}$"),
            Option("environment", "The environment the applications deploy to, unless the template says "
                                  "(letters, digits, . _ : / -).", default=s.PRODUCTION),
        ),
    ),
))
