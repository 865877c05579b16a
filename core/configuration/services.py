"""Writing the tenants' configuration: every change is a new version (with its author, reason and diff),
validated against its document's schema, audited in the same transaction, announced to every process after
the commit, and handed to the document's watchers once."""

from django.conf import settings
from django.db import transaction

from core import audit
from core.configuration import cache
from core.configuration.registry import Document, merged, watchers
from core.configuration.registry import document as document_named
from core.configuration.registry import is_registered
from core.configuration.selectors import config_stored, config_version
from core.errors import Invalid
from core.hooks import call_each
from core.models import ConfigVersion, Tenant


def config_diff(old: dict, new: dict, depth: int = 3, prefix: str = "") -> dict:
    """{path: {"from", "to"}} of what differs; objects are compared key by key down to `depth` levels,
    so turning one provider off reads `providers.slack`, not the whole object."""
    changed = {}
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        path = f"{prefix}{key}"
        if depth > 1 and isinstance(before, dict) and isinstance(after, dict):
            changed.update(config_diff(before, after, depth - 1, f"{path}."))
        else:
            changed[path] = {"from": before, "to": after}
    return changed


def content_errors(declared: Document, content, *, field: str = "content") -> dict[str, list[str]]:
    """The document's problems with `content`, each under `field`.<path>."""
    return {f"{field}.{path}" if path else field: messages for path, messages in declared.errors(content).items()}


def _retain(tenant_id: int, name: str, newest: int) -> None:
    """Keep the last CONFIG_VERSIONS_KEPT versions of the document (0: all of them)."""
    kept = settings.CONFIG_VERSIONS_KEPT
    if kept:
        ConfigVersion.objects.filter(tenant_id=tenant_id, document=name, version__lte=newest - kept).delete()


def _after_commit(tenant_id: int, name: str, version: int, old: dict, new: dict) -> None:
    cache.announce(tenant_id, name, version)
    call_each(watchers(name), tenant_id=tenant_id, document=name, old=old, new=new)


@transaction.atomic
def config_update(*, tenant_id: int, document: str, content: dict, user=None, actor: str = "", reason: str = "",
                  correlation_id: str = "", action: str = "updated", field: str = "content") -> ConfigVersion:
    """Save `content` as the tenant's new version of the document (what the tenant sets; the deployment's
    defaults fill in the rest). Invalid, naming every problem, and nothing saved when it breaks the schema."""
    declared = document_named(document)
    errors = content_errors(declared, content, field=field)
    if errors:
        raise Invalid(details=errors)
    Tenant.objects.select_for_update().get(pk=tenant_id)  # one writer of a tenant's configuration at a time
    stored, version = config_stored(tenant_id=tenant_id, document=document)
    defaults = declared.defaults()
    old, new = merged(defaults, stored), merged(defaults, content)
    created = ConfigVersion.objects.create(
        tenant_id=tenant_id, document=document, version=version + 1, content=content,
        diff=config_diff(old, new, depth=declared.diff_depth), author=user, reason=(reason or "")[:500])
    _retain(tenant_id, document, created.version)
    audit.audit_record(tenant_id=tenant_id, actor=actor or (user.get_username() if user else "system"),
                       action=f"{declared.audit_prefix}.{action}", object_type=document, object_id=created.version,
                       before=old, after=new, correlation_id=correlation_id)
    cache.drop(tenant_id, document)
    transaction.on_commit(lambda: _after_commit(tenant_id, document, created.version, old, new))
    return created


@transaction.atomic
def config_rollback(*, tenant_id: int, document: str, version: int, user=None, reason: str = "",
                    correlation_id: str = "") -> ConfigVersion:
    """A new version whose content is that of an earlier one (history is never rewritten); version 0 is the
    deployment's defaults, before the tenant set anything. It must still be valid: a document's schema may have
    grown stricter since."""
    document_named(document)
    target = config_version(tenant_id=tenant_id, document=document, version=version) if version else None
    if target is None and version:
        kept = settings.CONFIG_VERSIONS_KEPT
        also = f" (only the last {kept} versions are kept)" if kept else ""
        raise Invalid(details={"version": [f"version {version} does not exist{also}"]})
    return config_update(tenant_id=tenant_id, document=document, content=target.content if target else {}, user=user,
                         reason=reason or f"rollback to version {version}", correlation_id=correlation_id,
                         action="rolled_back", field="version")


def import_errors(documents: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(documents, dict) or not documents:
        return {"documents": ["Expected a JSON object of one or more documents: {name: {\"content\": {...}}}."]}
    for name, entry in documents.items():
        where = f"documents.{name}"
        if not is_registered(name):
            errors[where] = [f"No configuration document is called {str(name)[:64]!r}."]
        elif not isinstance(entry, dict) or "content" not in entry:
            errors[where] = ['Expected {"content": {...}} (and optionally "version", as exported).']
        elif set(entry) - {"content", "version"}:
            errors[where] = [f"Unknown field(s): {', '.join(sorted(map(str, set(entry) - {'content', 'version'})))}."]
        else:
            errors.update(content_errors(document_named(name), entry["content"], field=f"{where}.content"))
    return errors


@transaction.atomic
def config_import(*, tenant_id: int, documents: dict, user=None, reason: str = "",
                  correlation_id: str = "") -> dict[str, dict]:
    """Import one or several documents (as GET .../export gives them) all together or not at all: every
    problem of every document is named and nothing changes when any is invalid. A document whose content is
    already the tenant's gets no new version. Returns {name: {"version", "changed"}}."""
    errors = import_errors(documents)
    if errors:
        raise Invalid(details=errors)
    Tenant.objects.select_for_update().get(pk=tenant_id)
    outcome = {}
    for name in sorted(documents):
        content = documents[name]["content"]
        stored, version = config_stored(tenant_id=tenant_id, document=name)
        if version and stored == content:
            outcome[name] = {"version": version, "changed": False}
            continue
        created = config_update(tenant_id=tenant_id, document=name, content=content, user=user,
                                reason=reason or "imported", correlation_id=correlation_id, action="imported",
                                field=f"documents.{name}.content")
        outcome[name] = {"version": created.version, "changed": True}
    return outcome
