"""Per-tenant configuration documents: declared by the apps (registry), versioned in core.ConfigVersion
(services, selectors), cached in every process and reloaded everywhere within a second of a change (cache),
served at /api/config (api) and in the admin (admin)."""

from core.configuration.registry import Document, document, documents, register_document, watch

__all__ = ["Document", "document", "documents", "register_document", "watch"]
