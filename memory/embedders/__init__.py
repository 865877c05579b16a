"""Text embedders for semantic memory; MiniLM (all-MiniLM-L6-v2, 384-d) is the default.

`get_embedder()` returns the one EMBEDDING_BACKEND selects: `minilm` (in process, offline) or
`openai` (an OpenAI-compatible `/embeddings` endpoint). Either way the vectors must fit the column
(memory.models.EMBEDDING_DIMENSIONS); memory/checks.py refuses a mismatch at start."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from memory.embedders.minilm import MiniLMEmbedder, get_minilm_embedder
from memory.embedders.openai import EmbeddingBackendError, OpenAIEmbedder

__all__ = ["BACKENDS", "EmbeddingBackendError", "MiniLMEmbedder", "OpenAIEmbedder", "backend_name",
           "declared_dimensions", "get_embedder", "get_minilm_embedder"]

BACKENDS = ("minilm", "openai")


def backend_name() -> str:
    return settings.EMBEDDING_BACKEND


def _openai_embedder() -> OpenAIEmbedder:
    """Built from settings on each call (it holds no connection), so a changed setting takes effect."""
    return OpenAIEmbedder(
        base_url=settings.EMBEDDING_API_URL or settings.LLM_BASE_URL,
        api_key=settings.EMBEDDING_API_KEY or settings.LLM_API_KEY,
        model=settings.EMBEDDING_MODEL,
        dimensions=settings.EMBEDDING_DIMENSIONS,
        timeout=settings.EMBEDDING_TIMEOUT_SECONDS,
    )


def declared_dimensions(name: str) -> int:
    """The width a backend promises, read from configuration alone: nothing is loaded or called."""
    if name == "minilm":
        return MiniLMEmbedder.dimensions
    if name == "openai":
        return _openai_embedder().dimensions
    raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}.")


def get_embedder():
    """The configured embedder; a width that does not fit the column is refused, never stored."""
    from memory.models import EMBEDDING_DIMENSIONS

    name = backend_name()
    embedder = get_minilm_embedder() if name == "minilm" else _openai_embedder() if name == "openai" else None
    if embedder is None:
        raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}.")
    if embedder.dimensions != EMBEDDING_DIMENSIONS:
        raise ImproperlyConfigured(f"EMBEDDING_BACKEND={name} declares {embedder.dimensions} dimensions; the "
                                   f"embedding column has {EMBEDDING_DIMENSIONS}.")
    return embedder
