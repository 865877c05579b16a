"""Reading the tenants' configuration: the content in force (cached per process, core.configuration.cache),
its history and exports."""

import copy

from django.db.models import QuerySet
from django.utils import timezone

from core.configuration import cache
from core.configuration.registry import document as document_named
from core.configuration.registry import documents, merged
from core.models import ConfigVersion, Tenant

EXPORT_FORMAT = "emma.config/1"


def config_stored(*, tenant_id: int, document: str) -> tuple[dict, int]:
    """The tenant's own content of the document and its version, from the database ({} and 0: never set)."""
    latest = (ConfigVersion.objects.filter(tenant_id=tenant_id, document=document).order_by("-version")
              .values_list("content", "version").first())
    return (latest[0], latest[1]) if latest else ({}, 0)


def config_content(*, tenant_id: int, document: str) -> tuple[dict, int]:
    """What the tenant set and its version, from this process's cache when fresh (a copy: change it freely)."""
    content, version = cache.read(tenant_id, document, lambda: config_stored(tenant_id=tenant_id, document=document))
    return copy.deepcopy(content), version


def config_current(*, tenant_id: int, document: str) -> tuple[dict, int]:
    """The document in force for the tenant: the deployment's defaults (its settings, read now) with what the
    tenant set over them, and the version (0: the defaults, never set). NotFound for an unknown document."""
    declared = document_named(document)
    content, version = config_content(tenant_id=tenant_id, document=document)
    return merged(declared.defaults(), content), version


def config_versions(*, tenant_id: int, document: str) -> QuerySet[ConfigVersion]:
    document_named(document)
    return (ConfigVersion.objects.filter(tenant_id=tenant_id, document=document).select_related("author")
            .order_by("-version"))


def config_version(*, tenant_id: int, document: str, version: int) -> ConfigVersion | None:
    return ConfigVersion.objects.filter(tenant_id=tenant_id, document=document, version=version).first()


def config_latest(*, tenant_id: int, document: str) -> ConfigVersion | None:
    return (ConfigVersion.objects.filter(tenant_id=tenant_id, document=document).select_related("author")
            .order_by("-version").first())


def config_overview(*, tenant_id: int) -> list[dict]:
    """Every registered document with the tenant's version of it (0: the deployment's defaults)."""
    latest = {row.document: row for row in ConfigVersion.objects.filter(tenant_id=tenant_id)
              .order_by("document", "-version").distinct("document").select_related("author")}
    return [{"document": declared.name, "title": declared.title or declared.name,
             "description": declared.description,
             "version": latest[declared.name].version if declared.name in latest else 0,
             "updated_at": latest[declared.name].created_at if declared.name in latest else None,
             "author": (latest[declared.name].author.get_username()
                        if declared.name in latest and latest[declared.name].author else None)}
            for declared in documents()]


def config_export(*, tenant_id: int, names: list[str] | None = None) -> dict:
    """The tenant's documents as one JSON object that POST /api/config/import takes back: what the tenant set
    (not the deployment's defaults, which belong to wherever it is imported), with each one's version."""
    names = names if names is not None else [declared.name for declared in documents()]
    exported = {}
    for name in names:
        document_named(name)
        content, version = config_stored(tenant_id=tenant_id, document=name)
        exported[name] = {"version": version, "content": content}
    return {"format": EXPORT_FORMAT, "tenant": Tenant.objects.get(pk=tenant_id).slug,
            "exported_at": timezone.now().isoformat(), "documents": exported}
