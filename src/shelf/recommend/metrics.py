"""Ranking and classification metrics for recommendation (plain functions of arrays).

Leave-one-out with one target per user, so HR@k equals Recall@k and NDCG@k uses binary gain:
``1 / log2(rank + 2)`` for a 0-based rank below ``k`` (Järvelin & Kekäläinen 2002), MRR is
``1 / (rank + 1)`` over the full list. Ties are broken against the target (pessimistic), and a
target that was excluded from the ranking counts as a miss.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

KS = (5, 10, 20)


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target among all columns (ties count against the target).

    A target scored ``-inf`` (excluded) gets rank ``n_columns`` (outside every cut-off).
    """
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    ranks = (scores >= target_scores).sum(axis=1) - 1
    ranks[~np.isfinite(target_scores[:, 0])] = scores.shape[1]
    return ranks.astype(np.int64)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of targets ranked in the top ``k``."""
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item per row (binary gain, ideal DCG = 1)."""
    if not len(ranks):
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(np.mean(gains))


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank over the full list (a miss from exclusion contributes ~0)."""
    return float(np.mean(1.0 / (ranks + 1.0))) if len(ranks) else 0.0


def ranking_metrics(ranks: np.ndarray, ks: Iterable[int] = KS) -> dict[str, float]:
    """HR@k and NDCG@k for each k, and MRR."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr@{k}"] = hit_rate(ranks, k)
    for k in ks:
        out[f"ndcg@{k}"] = ndcg(ranks, k)
    out["mrr"] = mrr(ranks)
    return out


def coverage(top_lists: np.ndarray, n_items: int) -> float:
    """Catalog coverage: share of the catalog appearing in at least one list."""
    if n_items == 0:
        return 0.0
    return float(len(np.unique(top_lists[top_lists >= 0])) / n_items)


def auc(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float:
    """Mean per-row AUC: share of a row's negatives scored below its positive (ties: half)."""
    if not len(pos_scores):
        return 0.0
    pos = pos_scores[:, None]
    wins = (neg_scores < pos).mean(axis=1) + 0.5 * (neg_scores == pos).mean(axis=1)
    return float(np.mean(wins))


def precision_recall_f1(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean predictions against boolean labels."""
    tp = float(np.sum(predicted & actual))
    fp = float(np.sum(predicted & ~actual))
    fn = float(np.sum(~predicted & actual))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
