"""Text embedders for semantic memory; MiniLM (all-MiniLM-L6-v2, 384-d) is the default."""

from memory.embedders.minilm import MiniLMEmbedder, get_minilm_embedder

__all__ = ["MiniLMEmbedder", "get_minilm_embedder"]
