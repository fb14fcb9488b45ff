"""Recommend latency: one user per request, in-process, after warm-up (PROTOCOL.md style).

Usage: ``python benchmarks/recs_latency.py --sequences PATH [--model sasrec+cooc]
[--requests 1000] [--threads 1]``. Fits the model quickly (few epochs: latency does not
depend on training length), then times ``RecommendService.for_you`` and the bare model's
``recommend_histories`` for random users, one at a time, and prints p50/p99 in ms as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from shelf.evaluate.recs_run import parts_of
from shelf.formats import read_sequences
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.data import encode_sequences
from shelf.recommend.popularity import Trending
from shelf.recommend.registry import build
from shelf.recommend.sasrec import SASRec
from shelf.recommend.service import RecommendService


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", required=True)
    parser.add_argument("--model", default="sasrec+cooc")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    users, seqs = read_sequences(args.sequences)
    data = encode_sequences(users, seqs)
    model = build(args.model)
    for part in parts_of(model):
        if isinstance(part, SASRec):
            part.params.update(max_epochs=args.epochs, threads=args.threads)
    model.fit(data)
    if hasattr(model, "weights_") and len(model.weights_) > 1:
        model.weights_[1] = 0.5  # as tuned on validation; an untuned 0 would skip the part
    service = RecommendService(model, ItemCooccurrence().fit(data), Trending().fit(data))
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(users), size=args.requests + 50)
    results = {}
    for name, call in (
        ("model.recommend_histories", lambda u: model.recommend_histories([seqs[u]], 10)),
        ("service.for_you", lambda u: service.for_you(users[u], 10)),
    ):
        for u in picks[:50]:
            call(u)
        times = []
        for u in picks[50:]:
            start = time.perf_counter()
            call(u)
            times.append((time.perf_counter() - start) * 1000)
        results[name] = {
            "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)),
            "mean_ms": float(np.mean(times)),
        }
    print(
        json.dumps(
            {
                "model": args.model,
                "n_items": data.n_items,
                "requests": args.requests,
                "torch_threads": args.threads,
                "cpus": os.cpu_count(),
                "machine": platform.platform(),
                "latency": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
