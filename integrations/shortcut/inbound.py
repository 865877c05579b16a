"""Shortcut outgoing webhooks, at a tenant's endpoint /webhooks/shortcut/<id>.
https://developer.shortcut.com/api/webhook/v1
Dedup key: the payload's `id` (one per change, the same on a retry), else the body's hash. Event type: the primary
action's entity_type.action (story.update, epic.create, ...). Each story action is an issue: the story's id and
name, its workflow state (the new one a change names, resolved from `references`), its story_type."""

from integrations import providers
from integrations import signals as s
from integrations.models import WebhookDelivery
from integrations.providers import Endpoint, Registration, WebhookProvider
from integrations.shortcut import verify
from integrations.webhooks import body_hash, first_of, json_body, payload_field


def obj(value) -> dict:
    """A payload's object, or {} for anything else a sender put there (null, a list, a number)."""
    return value if isinstance(value, dict) else {}


def text(value) -> str:
    """A payload's scalar as text; null, an object or a list is empty."""
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _actions(payload: dict) -> list[dict]:
    actions = payload.get("actions")
    return [action for action in actions if isinstance(action, dict)] if isinstance(actions, list) else []


def _state_id(action: dict):
    """The story's workflow state after this action: the change's new one, else the one it was created in."""
    change = (action.get("changes") or {}).get("workflow_state_id") if isinstance(action.get("changes"), dict) \
        else None
    return change.get("new") if isinstance(change, dict) else action.get("workflow_state_id")


def signals(delivery: WebhookDelivery, payload: dict) -> list[s.Signal]:
    """Each story created, updated or deleted, as an issue. Any JSON is read without error: a field of the wrong
    type is as if missing."""
    references = payload.get("references") if isinstance(payload.get("references"), list) else []
    states = {text(ref.get("id")): text(ref.get("name")) for ref in references
              if isinstance(ref, dict) and ref.get("entity_type") == "workflow-state"}
    found = []
    for action in _actions(payload):
        if action.get("entity_type") != "story" or not action.get("id"):
            continue
        status = "deleted" if action.get("action") == "delete" else states.get(text(_state_id(action)), "")
        found.append(s.issue(key=action["id"], title=str(action.get("name") or ""), status=status,
                             at=payload.get("changed_at"), kind=str(action.get("story_type") or ""),
                             url=str(action.get("app_url") or "")))
    return found


def event_type(request, payload) -> str:
    """The primary action's entity_type.action: what the change was about."""
    actions = _actions(payload)
    primary = next((a for a in actions if a.get("id") == payload.get("primary_id")), actions[0] if actions else {})
    return ".".join(str(primary.get(name) or "") for name in ("entity_type", "action")).strip(".")[:100]


SHORTCUT = providers.register(WebhookProvider(
    name="shortcut",
    title="Shortcut",
    switch="shortcut",
    signals=signals,
    registration=Registration(
        check=verify.check,
        read=Endpoint(parse=json_body, dedup_key=first_of(payload_field("id"), body_hash),
                      event_type=event_type),
        describe=lambda options: "HMAC-SHA256 of the body in Payload-Signature"),
))
