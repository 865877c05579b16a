"""Accounts and configuration are audited on the chain governance keeps (floor 2), which core (floor 1) cannot import: governance
registers its recorder here at start-up (GovernanceConfig.ready), and core's services call `account_audit`
in their own transaction, so an account change and its audit event commit together or not at all."""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

from core import observability

_recorder: Callable[..., object] | None = None


def register_recorder(recorder: Callable[..., object]) -> None:
    global _recorder
    _recorder = recorder


def account_audit(*, tenant_id: int, actor: str, action: str, object_type: str, object_id, before=None,
                  after=None, correlation_id: str = "") -> None:
    """Append an account event (a member's role changed, an invitation sent, a key revoked) to the tenant's
    audit chain. Without a recorder (governance not installed) nothing may change unaudited: it raises."""
    if _recorder is None:
        raise ImproperlyConfigured("No audit recorder is registered: governance must be in INSTALLED_APPS.")
    _recorder(tenant_id=tenant_id, actor=actor, action=action, object_type=object_type, object_id=str(object_id),
              before=before, after=after,
              correlation_id=correlation_id or observability.get_correlation_id() or "")


# A configuration change is audited the same way (core.configuration.services).
audit_record = account_audit
