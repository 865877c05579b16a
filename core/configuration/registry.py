"""The configuration documents the apps declare, and who watches them.

An app registers each of its documents in AppConfig.ready, as it registers its prunables and periodic jobs:

    register_document(Document("integrations", schema=INTEGRATIONS_SCHEMA, defaults=integrations_defaults,
                               check=caps_within_the_deployment))
    watch("integrations", on_integrations_changed)

`schema` (JSON Schema, Draft 2020-12) describes what a tenant may set: what it leaves out keeps the deployment's
value (`defaults()`, read from settings each time, so the environment stays the deployment-wide default).
`check(content)` adds rules a schema cannot say (a cap above the deployment's own), as {field: [messages]}."""

from collections.abc import Callable
from dataclasses import dataclass, field

import jsonschema
from django.core.exceptions import ImproperlyConfigured

from core.errors import NotFound


@dataclass(frozen=True)
class Document:
    name: str
    schema: dict
    defaults: Callable[[], dict] = dict
    check: Callable[[dict], dict[str, list[str]]] | None = None
    title: str = ""
    description: str = ""
    # Readable by admins only (a document holding anything sensitive); else by every member.
    admins_only: bool = False
    # How its changes are named in the audit chain: "<audit_prefix>.updated", object_type `name`.
    audit_prefix: str = "config"
    # How deep versions' diffs look into nested objects (1: top-level keys only).
    diff_depth: int = 3
    validator: jsonschema.Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        jsonschema.Draft202012Validator.check_schema(self.schema)
        object.__setattr__(self, "validator", jsonschema.Draft202012Validator(self.schema))

    def errors(self, content) -> dict[str, list[str]]:
        """Every problem of `content`, by field path ("" for the document itself); {} when it is valid."""
        if not isinstance(content, dict):
            return {"": ["Expected a JSON object."]}
        found: dict[str, list[str]] = {}
        for error in sorted(self.validator.iter_errors(content), key=lambda e: list(map(str, e.absolute_path))):
            found.setdefault(".".join(map(str, error.absolute_path)), []).append(error.message)
        if not found and self.check is not None:
            for name, messages in (self.check(content) or {}).items():
                found.setdefault(name, []).extend(messages)
        return found


_documents: dict[str, Document] = {}
_watchers: dict[str, list[Callable]] = {}


def register_document(document: Document) -> Document:
    """Declare a document; one name declared twice by different declarations is a mistake."""
    known = _documents.get(document.name)
    if known is not None and known != document:
        raise ImproperlyConfigured(f"configuration document {document.name!r} is registered twice")
    _documents[document.name] = document
    return document


def unregister_document(name: str) -> None:
    _documents.pop(name, None)


def documents() -> list[Document]:
    return sorted(_documents.values(), key=lambda document: document.name)


def document(name: str) -> Document:
    """The document named so; NotFound (404) for any other name."""
    try:
        return _documents[name]
    except (KeyError, TypeError):
        raise NotFound(f"No configuration document is called {str(name)[:64]!r}.") from None


def is_registered(name: str) -> bool:
    return name in _documents


def watch(name: str, callback: Callable) -> None:
    """callback(tenant_id=, document=, old=, new=) once after each committed change of the document (in the
    process that committed it): `old` and `new` are the tenant's effective content before and after."""
    callbacks = _watchers.setdefault(name, [])
    if callback not in callbacks:
        callbacks.append(callback)


def unwatch(name: str, callback: Callable) -> None:
    if callback in _watchers.get(name, []):
        _watchers[name].remove(callback)


def watchers(name: str) -> list[Callable]:
    return list(_watchers.get(name, []))


def merged(defaults: dict, content: dict) -> dict:
    """`content` over `defaults`: objects are merged key by key, anything else (lists, numbers) replaced."""
    result = dict(defaults)
    for key, value in content.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result
