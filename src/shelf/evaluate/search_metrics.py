"""Search metrics of the frozen protocol (``shared/benchmarks/PROTOCOL.md``, "Search").

* NDCG@k with linear gain ``relevance - 1`` (so 1 -> 0, 3 -> 2) and discount
  ``1 / log2(rank + 1)`` (Järvelin & Kekäläinen, 2002); the ideal ranking is built from the
  query's judged products; unjudged products gain 0. A query whose judged products all gain 0
  has no NDCG (``None``) and is skipped.
* Recall@k: the share of the query's products with relevance >= 2 found in the top k
  (``None`` when it has none).
* MRR@k: reciprocal rank of the first product with relevance >= 2.5 in the top k, 0 when none
  is there (also when the query has no such product at all).

The means are over the queries that have an NDCG (Recall@100 over those that also have a
product with relevance >= 2). With these definitions bm25s over stemmed titles without stop
words reproduces the protocol's reference figures (0.358 / 0.718 / 0.308).

Each function takes one query's ranked ids and its judgements ``{product id: relevance}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, float], k: int = 10) -> float | None:
    gains = sorted((r - 1.0 for r in judged.values()), reverse=True)
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]) if g > 0)
    if ideal <= 0:
        return None
    dcg = 0.0
    for i, pid in enumerate(ranked[:k]):
        gain = judged.get(pid, 1.0) - 1.0
        if gain > 0:
            dcg += gain / math.log2(i + 2)
    return dcg / ideal


def recall_at_k(
    ranked: Sequence[str], judged: Mapping[str, float], k: int = 100, threshold: float = 2.0
) -> float | None:
    relevant = {p for p, r in judged.items() if r >= threshold}
    if not relevant:
        return None
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(
    ranked: Sequence[str], judged: Mapping[str, float], k: int = 10, threshold: float = 2.5
) -> float:
    for i, pid in enumerate(ranked[:k]):
        if judged.get(pid, 0.0) >= threshold:
            return 1.0 / (i + 1)
    return 0.0


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]]
) -> dict[str, float | int]:
    """Mean NDCG@10, Recall@100 and MRR@10 over the queries of ``rankings``, each metric
    over the queries where it is defined; ``queries`` counts the queries NDCG was computed on."""
    ndcg: list[float] = []
    recall: list[float] = []
    mrr: list[float] = []
    for qid, ranked in rankings.items():
        judged = qrels.get(qid, {})
        value = ndcg_at_k(ranked, judged, 10)
        if value is None:
            continue  # all judged products have gain 0: the query is skipped
        ndcg.append(value)
        mrr.append(mrr_at_k(ranked, judged, 10))
        found = recall_at_k(ranked, judged, 100)
        if found is not None:
            recall.append(found)
    return {
        "ndcg@10": round(float(np.mean(ndcg)), 4) if ndcg else 0.0,
        "recall@100": round(float(np.mean(recall)), 4) if recall else 0.0,
        "mrr@10": round(float(np.mean(mrr)), 4) if mrr else 0.0,
        "queries": len(ndcg),
    }


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p99 of per-query latencies, in milliseconds."""
    if not seconds:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }
