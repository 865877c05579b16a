"""The audit chain: each tenant's events carry the hash of the one before, so any edit shows."""

import hashlib
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from governance.models import AuditEvent

GENESIS = "0" * 64


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _normalised(value):
    """What PostgreSQL will hand back from a jsonb column, so what is hashed is what is stored."""
    return None if value is None else json.loads(canonical(value))


def event_hash(event: AuditEvent) -> str:
    payload = canonical({
        "tenant": event.tenant_id, "seq": event.seq, "actor": event.actor, "action": event.action,
        "object_type": event.object_type, "object_id": event.object_id, "before": event.before,
        "after": event.after, "correlation_id": event.correlation_id,
        "created_at": event.created_at.isoformat(), "prev_hash": event.prev_hash,
    })
    return hashlib.sha256(payload.encode()).hexdigest()


# Take the next seqs, locking the head until commit: a racing writer of the same tenant waits here and
# then reads the head as the first one left it (READ COMMITTED re-checks an updated row).
_TAKE = "UPDATE governance_auditchainhead SET seq = seq + %s WHERE tenant_id = %s RETURNING seq, hash"
_FIRST = ("INSERT INTO governance_auditchainhead (tenant_id, seq, hash) VALUES (%s, 0, %s) "
          "ON CONFLICT (tenant_id) DO NOTHING")
_COLUMNS = ("tenant_id", "seq", "actor", "action", "object_type", "object_id", "before", "after", "correlation_id",
            "created_at", "prev_hash", "hash")
# The events and the head's new hash, in one statement.
_APPEND = """
WITH events AS (INSERT INTO governance_auditevent ({columns}) VALUES {rows} RETURNING id)
UPDATE governance_auditchainhead SET hash = %s WHERE tenant_id = %s RETURNING (SELECT array_agg(id) FROM events)
"""


def _json(value):
    return None if value is None else connection.ops.adapt_json_value(value, None)


def audit_record_many(*, tenant_id: int, events: list[dict]) -> list[AuditEvent]:
    """Append events (each: actor, action, object_type, object_id, and optionally before, after and
    correlation_id) to the tenant's chain in order, in the caller's transaction (or one of their own):
    three round trips however many. Concurrent writers of one tenant wait their turn at the chain's head."""
    if not events:
        return []
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_TAKE, [len(events), tenant_id])
        head = cursor.fetchone()
        if head is None:  # the tenant's first event
            cursor.execute(_FIRST, [tenant_id, GENESIS])
            cursor.execute(_TAKE, [len(events), tenant_id])
            head = cursor.fetchone()
        last_seq, prev_hash = head
        now, recorded, params = timezone.now(), [], []
        for seq, entry in enumerate(events, start=last_seq - len(events) + 1):
            event = AuditEvent(
                tenant_id=tenant_id, seq=seq, actor=entry["actor"][:150], action=entry["action"],
                object_type=entry["object_type"], object_id=str(entry["object_id"]),
                before=_normalised(entry.get("before")), after=_normalised(entry.get("after")),
                correlation_id=entry.get("correlation_id") or "", created_at=now, prev_hash=prev_hash)
            event.hash = prev_hash = event_hash(event)
            recorded.append(event)
            params += [tenant_id, seq, event.actor, event.action, event.object_type, event.object_id,
                       _json(event.before), _json(event.after), event.correlation_id, now, event.prev_hash,
                       event.hash]
        row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
        cursor.execute(_APPEND.format(columns=", ".join(_COLUMNS), rows=", ".join([row] * len(recorded))),
                       [*params, prev_hash, tenant_id])
        for event, pk in zip(recorded, sorted(cursor.fetchone()[0]), strict=True):
            event.pk = pk
    return recorded


def audit_record(*, tenant_id: int, actor: str, action: str, object_type: str, object_id, before=None,
                 after=None, correlation_id: str = "") -> AuditEvent:
    """Append one event to the tenant's chain (audit_record_many)."""
    return audit_record_many(tenant_id=tenant_id, events=[{
        "actor": actor, "action": action, "object_type": object_type, "object_id": object_id, "before": before,
        "after": after, "correlation_id": correlation_id}])[0]


@dataclass
class ChainBreak:
    tenant_id: int
    seq: int
    event_id: int
    problem: str


def verify_chain(tenant_id: int | None = None) -> tuple[int, ChainBreak | None]:
    """Walk every chain (or one tenant's) in order; the count checked and the first break, if any."""
    events = AuditEvent.objects.order_by("tenant_id", "seq")
    if tenant_id is not None:
        events = events.filter(tenant_id=tenant_id)
    checked, current_tenant, expected_prev, expected_seq = 0, None, GENESIS, 1
    for event in events.iterator(chunk_size=2000):
        if event.tenant_id != current_tenant:
            current_tenant, expected_prev, expected_seq = event.tenant_id, GENESIS, 1
        if event.seq != expected_seq:
            return checked, ChainBreak(event.tenant_id, event.seq, event.pk,
                                       f"sequence jumps from {expected_seq - 1} to {event.seq} (events removed?)")
        if event.prev_hash != expected_prev:
            return checked, ChainBreak(event.tenant_id, event.seq, event.pk, "prev_hash does not match the event before")
        if event_hash(event) != event.hash:
            return checked, ChainBreak(event.tenant_id, event.seq, event.pk, "content does not match its hash (altered)")
        checked += 1
        expected_prev, expected_seq = event.hash, event.seq + 1
    return checked, None
