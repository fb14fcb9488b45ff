"""The int8 query encoder, exported plain and fused, timed on real queries.

    .venv/bin/python benchmarks/query_encoder.py \
        --queries ../shared/data/homedepot-search/queries-dev.tsv \
        --out benchmarks/results/query-encoder.json

Exports the bundled MiniLM twice into a temporary folder with
:func:`shelf.text.encoder.export_int8` (``fuse=False``: the model's own attention code and
onnxruntime's pre-processing; ``fuse=True``: attention, skip + layer norm and bias + GELU
fused first), then encodes a seeded sample of queries one at a time with each, one thread,
alternating the two models query by query so that both see the same machine. Records the
median and p99 per model, their node counts and each export's cosine to the float
(sentence-transformers) vectors.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from record import emit, run_header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import onnx
    import torch

    from shelf.formats import read_queries as load_queries
    from shelf.text.encoder import MiniLMEncoder, OnnxQueryModel, export_int8

    torch.set_num_threads(1)
    texts = sorted(load_queries(args.queries).values())
    random.Random(args.seed).shuffle(texts)
    texts = texts[: args.sample]
    raw = MiniLMEncoder(num_threads=1)
    transformer = raw._load()[0].auto_model
    floats = raw.encode(texts)
    doc: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="shelf-qenc-") as tmp:
        models = {}
        for name, fuse in (("plain", False), ("fused", True)):
            path = Path(tmp) / f"{name}.onnx"
            export_int8(transformer, path, fuse=fuse)
            models[name] = OnnxQueryModel(path, num_threads=1)
            doc[f"{name}_nodes"] = len(onnx.load(str(path)).graph.node)
        for model in models.values():  # warm-up
            for text in texts[:20]:
                model.encode_query(text)
        times: dict[str, list[float]] = {name: [] for name in models}
        vectors: dict[str, list[np.ndarray]] = {name: [] for name in models}
        for k, text in enumerate(texts):
            order = list(models) if k % 2 == 0 else list(reversed(models))
            for name in order:
                started = time.perf_counter()
                vectors[name].append(models[name].encode_query(text))
                times[name].append((time.perf_counter() - started) * 1000)
    for name in models:
        cosines = (np.stack(vectors[name]) * floats).sum(axis=1)
        doc[name] = {
            "p50_ms": round(float(np.percentile(times[name], 50)), 3),
            "p99_ms": round(float(np.percentile(times[name], 99)), 3),
            "cosine_to_float_mean": round(float(cosines.mean()), 4),
            "cosine_to_float_min": round(float(cosines.min()), 4),
        }
    result = {
        **run_header(),
        "queries_timed": len(texts),
        "threads": 1,
        **doc,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
