"""MiniLM embedder: the same vectors as sentence-transformers' all-MiniLM-L6-v2, from NumPy alone."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from memory.embedders import MiniLMEmbedder, get_minilm_embedder, minilm

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text())
TEXTS = [item["text"] for item in REFERENCE["items"]]

# Common words that are one WordPiece each, from two unrelated topics, so a text's second half
# moves its embedding well away from its first half's.
FINANCE = "market price stock bank money trade sale growth profit loss fund share rate cash debt tax cost value".split()
NATURE = "river mountain forest tree flower bird rain snow wind cloud lake stone grass field sun moon sea hill".split()


def _unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _cosines(a, b) -> np.ndarray:
    return np.sum(_unit(a) * _unit(b), axis=-1)


REFERENCE_VECTORS = _unit([item["embedding"] for item in REFERENCE["items"]])


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return get_minilm_embedder()


def _words(vocabulary: list[str], count: int) -> list[str]:
    return [vocabulary[i % len(vocabulary)] for i in range(count)]


def test_every_reference_text_matches_sentence_transformers(embedder):
    cosines = _cosines(embedder.embed(TEXTS), REFERENCE_VECTORS)
    worst = int(np.argmin(cosines))
    print(f"worst cosine {cosines[worst]:.12f} on {TEXTS[worst][:60]!r}")  # shown by pytest -rA
    failures = [f"{cos:.6f} {text[:60]!r}" for text, cos in zip(TEXTS, cosines) if cos < 0.999]
    assert not failures, f"worst {cosines[worst]:.6f} on {TEXTS[worst][:60]!r}; below 0.999:\n" + "\n".join(failures)


def test_embeddings_are_float32_unit_vectors_of_384_dimensions(embedder):
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) == (len(TEXTS), embedder.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_one("hello").shape == (384,)


def test_batch_keeps_the_callers_order_across_mixed_lengths(embedder):
    # Long and short texts interleaved, more than one internal chunk of 32.
    order = np.random.default_rng(7).permutation(len(TEXTS))
    vectors = embedder.embed([TEXTS[i] for i in order])
    cosines = vectors.astype(np.float64) @ REFERENCE_VECTORS.T
    assert list(np.argmax(cosines, axis=1)) == list(order)
    assert np.all(cosines[np.arange(len(order)), order] >= 0.999)


def test_batch_gives_the_same_vectors_as_one_text_at_a_time(embedder):
    texts = TEXTS + ["", "a b", FINANCE[0]]
    batch = embedder.embed(texts)
    singles = np.stack([embedder.embed_one(text) for text in texts])
    assert np.all(_cosines(batch, singles) >= 0.9999)


def test_text_is_truncated_at_256_tokens_including_cls_and_sep(embedder):
    untruncated = Tokenizer.from_file(str(minilm.model_dir() / "tokenizer.json"))
    untruncated.no_truncation()
    words = _words(FINANCE, 126) + _words(NATURE, 400)
    # Precondition: one word, one token, so 254 words plus [CLS] and [SEP] fill the window exactly.
    assert len(untruncated.encode(" ".join(words[:254])).ids) == 256

    long_text, window = embedder.embed([" ".join(words), " ".join(words[:254])])
    with_more_tail = embedder.embed_one(" ".join(words + _words(FINANCE, 300)))
    first_128_tokens = embedder.embed_one(" ".join(words[:126]))

    assert _cosines(long_text, window) >= 0.9999
    assert _cosines(long_text, with_more_tail) >= 0.9999
    # tokenizer.json itself says 128; sentence-transformers (and we) use max_seq_length 256.
    assert _cosines(long_text, first_128_tokens) < 0.99


def test_empty_list_gives_an_empty_matrix(embedder):
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_refused_rather_than_embedded_per_character(embedder):
    with pytest.raises(TypeError):
        embedder.embed("hello")


def test_threads_racing_on_first_use_share_one_model_load_and_get_correct_vectors(monkeypatch):
    loads = []
    real_load = minilm._load_model

    def slow_counting_load():
        loads.append(threading.get_ident())
        time.sleep(0.2)  # widens the window in which a second load could start
        return real_load()

    monkeypatch.setattr(minilm, "_model", None)
    monkeypatch.setattr(minilm, "_load_model", slow_counting_load)
    threads = 8
    start = threading.Barrier(threads)

    def first_use(i):
        start.wait()
        embedder = get_minilm_embedder()
        texts = TEXTS[i::threads]
        return embedder, texts, embedder.embed(texts)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(first_use, range(threads)))

    assert len(loads) == 1
    assert all(embedder is results[0][0] for embedder, _, _ in results)
    for _, texts, vectors in results:
        expected = REFERENCE_VECTORS[[TEXTS.index(text) for text in texts]]
        assert np.all(_cosines(vectors, expected) >= 0.999)
