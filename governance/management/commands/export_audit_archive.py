import hashlib
import json
import os
from datetime import UTC, datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from governance.audit import event_hash
from governance.models import AuditEvent


def _moment(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--before {text!r} is neither a date (2026-01-31) nor an ISO date-time")
        moment = datetime.combine(day, time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = ("Copy the audit events created before a date to a JSON-lines file (one event a line, with its hash "
            "and the previous event's), with a .sha256 beside it. The events stay in the database: the audit "
            "chain is never pruned, and `verify_audit_log` keeps verifying it.")

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="export events created before this date (UTC) or time")
        parser.add_argument("--out", required=True, help="the file to write (replaced if it exists)")
        parser.add_argument("--tenant-id", type=int, help="one tenant's chain only")

    def handle(self, *args, before, out, tenant_id=None, **options):
        cutoff = _moment(before)
        path = Path(out).resolve()
        events = AuditEvent.objects.filter(created_at__lt=cutoff).order_by("tenant_id", "seq")
        if tenant_id is not None:
            events = events.filter(tenant_id=tenant_id)
        partial = path.with_name(f".{path.name}.partial")
        digest, count, altered = hashlib.sha256(), 0, 0
        try:
            with open(partial, "wb") as handle:
                for event in events.iterator(chunk_size=2000):
                    altered += event_hash(event) != event.hash
                    line = json.dumps({
                        "tenant_id": event.tenant_id, "seq": event.seq, "actor": event.actor, "action": event.action,
                        "object_type": event.object_type, "object_id": event.object_id, "before": event.before,
                        "after": event.after, "correlation_id": event.correlation_id,
                        "created_at": event.created_at.isoformat(), "prev_hash": event.prev_hash, "hash": event.hash,
                    }, sort_keys=True, ensure_ascii=False).encode() + b"\n"
                    handle.write(line)
                    digest.update(line)
                    count += 1
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        path.with_name(path.name + ".sha256").write_text(f"{digest.hexdigest()}  {path.name}\n")
        self.stdout.write(f"exported {count} audit events created before {cutoff.isoformat()} to {path} "
                          f"(sha256 {digest.hexdigest()}); they remain in the database")
        if altered:
            raise CommandError(f"{altered} exported events do not match their own hash; run verify_audit_log")
