"""Start-up checks: the configured embedder must fit the embedding column.

A backend of another width would store vectors no query can compare, or fail every insert; both are
found here, by `manage.py check` and `migrate` (the release step), before any traffic arrives."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register("memory")
def embedding_backend_check(app_configs=None, **kwargs) -> list[Error]:
    """EMBEDDING_BACKEND names a backend whose declared width is the column's; the model is not loaded."""
    from memory.embedders import BACKENDS, backend_name, declared_dimensions
    from memory.models import EMBEDDING_DIMENSIONS

    name = backend_name()
    if name not in BACKENDS:
        return [Error(f"EMBEDDING_BACKEND={name!r} is not a known embedding backend.",
                      hint=f"Use one of: {', '.join(BACKENDS)}.", id="memory.E001")]
    try:
        dimensions = declared_dimensions(name)
    except (ImproperlyConfigured, ValueError) as exc:
        return [Error(f"EMBEDDING_BACKEND={name}: {exc}", id="memory.E001")]
    errors = []
    if dimensions != EMBEDDING_DIMENSIONS:
        errors.append(Error(
            f"EMBEDDING_BACKEND={name} produces {dimensions}-dimensional vectors; the memory_item.embedding "
            f"column is vector({EMBEDDING_DIMENSIONS}).",
            hint=f"Set EMBEDDING_DIMENSIONS={EMBEDDING_DIMENSIONS} (the openai backend asks the endpoint for "
                 "that width) or use EMBEDDING_BACKEND=minilm.", id="memory.E002"))
    if name == "openai" and not (settings.EMBEDDING_API_URL or settings.LLM_BASE_URL):
        errors.append(Error("EMBEDDING_BACKEND=openai needs an endpoint.",
                            hint="Set EMBEDDING_API_URL (or LLM_BASE_URL).", id="memory.E003"))
    return errors
