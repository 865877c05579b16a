"""Embeddings from an OpenAI-compatible endpoint (`POST {base}/embeddings`), for EMBEDDING_BACKEND=openai.

Base URLs (the same rule for the research task's chat completions): a base URL without a path gets
`/v1` appended, so `https://api.openai.com` and `https://api.openai.com/v1` both reach
`https://api.openai.com/v1/embeddings`; a base URL with a path is used as given (the OpenAI SDK's
convention), so a proxy at `http://gateway/openai/v1` or a provider whose API is not under `/v1` works.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import numpy as np

# OpenAI accepts up to 2048 inputs a request; smaller requests keep each one well under its timeout.
_BATCH_SIZE = 128


def api_url(base_url: str, endpoint: str) -> str:
    """`{base}/v1/{endpoint}` for a bare host, `{base}/{endpoint}` for a base URL that has a path."""
    base = base_url.rstrip("/")
    if not urlsplit(base).path:
        base += "/v1"
    return f"{base}/{endpoint}"


class EmbeddingBackendError(RuntimeError):
    """The endpoint failed or answered with something that is not the declared embeddings."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class OpenAIEmbedder:
    """Text to unit vectors of the declared width, from a remote endpoint.

    `dimensions` is declared, not discovered: it is sent as the request's `dimensions` (the
    text-embedding-3 models shorten their vectors to fit) and every answer is checked against it."""

    name = "openai"

    def __init__(self, *, base_url: str, api_key: str = "", model: str, dimensions: int, timeout: float = 30.0):
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.dimensions = dimensions
        self.timeout = timeout

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts in their given order, L2-normalised as MiniLM's are, so cosine scores compare."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts; use embed_one() for a single text")
        if not self.base_url:
            raise EmbeddingBackendError("EMBEDDING_BACKEND=openai needs EMBEDDING_API_URL (or LLM_BASE_URL).")
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(timeout=httpx.Timeout(self.timeout, connect=5.0), headers=headers) as client:
            for start in range(0, len(texts), _BATCH_SIZE):
                batch = texts[start : start + _BATCH_SIZE]
                out[start : start + len(batch)] = self._request(client, batch)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _request(self, client: httpx.Client, texts: list[str]) -> np.ndarray:
        url = api_url(self.base_url, "embeddings")
        try:
            response = client.post(url, json={"model": self.model, "input": texts, "dimensions": self.dimensions})
        except httpx.TransportError as exc:  # timeouts included
            raise EmbeddingBackendError(f"embeddings endpoint {url} unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise EmbeddingBackendError(
                f"embeddings endpoint {url} answered {response.status_code}: {response.text[:300]}",
                retryable=response.status_code >= 500 or response.status_code == 429)
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingBackendError(f"embeddings endpoint {url} answered in an unknown format") from exc
        if vectors.shape != (len(texts), self.dimensions) or not np.isfinite(vectors).all():
            raise EmbeddingBackendError(
                f"embeddings endpoint {url} returned vectors of shape {vectors.shape}; expected "
                f"({len(texts)}, {self.dimensions}) finite numbers (EMBEDDING_DIMENSIONS)")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))
