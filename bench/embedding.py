"""Embedding benchmark: MiniLM load time, single-text latency and batch throughput on this machine.

The tokenizer-only time and one bare FFN-shaped matmul are measured in the same run, so the figures
can be read against what this machine does at all (a shared or throttled box slows every column).
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np

SHORT_TEXT = "Approve the purchase order for 40 laptops."
_VERBS = ("Approve", "Summarize", "Escalate", "Reject", "Schedule", "Review", "Archive", "Notify")
_OBJECTS = ("the vendor invoice", "yesterday's incident report", "the refund request", "the on-call rota")
BATCH_TEXTS = [
    f"{verb} {obj} for team {i} before the {('morning', 'weekly', 'quarterly')[i % 3]} review."
    for i, (verb, obj) in enumerate((v, o) for v in _VERBS for o in _OBJECTS)
]
assert len(BATCH_TEXTS) == 32


def _timings_ms(fn, calls: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def _percentile(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)), 3)


def run(report: dict) -> None:
    """Put the embedding figures into report["embedding"]; timings are reported, never judged."""
    from memory.embedders import minilm

    load_ms = _timings_ms(minilm._load_model, calls=3, warmup=0)
    embedder = minilm.get_minilm_embedder()
    tokenizer = minilm._get_model().tokenizer

    single = _timings_ms(lambda: embedder.embed_one(SHORT_TEXT), calls=200)
    batch = _timings_ms(lambda: embedder.embed(BATCH_TEXTS), calls=20, warmup=2)
    tokenize = _timings_ms(lambda: tokenizer.encode_batch(BATCH_TEXTS), calls=50)

    single_tokens = len(tokenizer.encode(SHORT_TEXT).ids)
    batch_tokens = [len(e.ids) for e in tokenizer.encode_batch(BATCH_TEXTS)]
    # The FFN up-projection of one layer at the padded batch shape: the biggest single matmul in the pass.
    rng = np.random.default_rng(0)
    ffn_w = rng.standard_normal((384, 1536), dtype=np.float32)
    ffn_x = rng.standard_normal((len(BATCH_TEXTS) * max(batch_tokens), 384), dtype=np.float32)
    ffn_x1 = rng.standard_normal((single_tokens, 384), dtype=np.float32)
    ffn_batch = _timings_ms(lambda: ffn_x @ ffn_w, calls=50)
    ffn_single = _timings_ms(lambda: ffn_x1 @ ffn_w, calls=200)

    report["embedding"] = {
        "label": f"MiniLM-L6-v2, NumPy forward pass, float32, {os.cpu_count()} CPUs",
        "load_ms": round(statistics.median(load_ms), 1),
        "single_p50_ms": _percentile(single, 50),
        "single_p95_ms": _percentile(single, 95),
        "single_tokens": single_tokens,
        "batch32_ms_per_text": round(statistics.median(batch) / len(BATCH_TEXTS), 3),
        "batch32_p95_ms_per_text": round(_percentile(batch, 95) / len(BATCH_TEXTS), 3),
        "batch32_mean_tokens": round(statistics.fmean(batch_tokens), 1),
        "tokenizer_ms_per_text": round(statistics.median(tokenize) / len(BATCH_TEXTS), 4),
        "ffn_matmul_single_ms": _percentile(ffn_single, 50),
        "ffn_matmul_batch32_ms": _percentile(ffn_batch, 50),
    }


if __name__ == "__main__":
    figures: dict = {}
    run(figures)
    print(json.dumps(figures["embedding"], indent=2))
