"""The frozen leave-one-out, full-ranking protocol for recommendation (PROTOCOL.md).

Per user: train on all but the last two items, validate on the second-to-last (input = the
training items), test on the last (input = every earlier item, the validation item included).
Every item of the catalog is ranked; items in the input history are excluded. Users with fewer
than three items only contribute training items. ``cold_fraction`` removes that share of items
(seeded) from training entirely, drops validation targets that are cold, and reports the test
targets that are cold separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shelf.recommend.base import Recommender, Validation, mask_rows, top_k
from shelf.recommend.data import encode_sequences
from shelf.recommend.holdout import Split, split_holdout
from shelf.recommend.metrics import (
    auc,
    coverage,
    precision_recall_f1,
    ranking_metrics,
    target_ranks,
)


def leave_one_out(
    users: Sequence[str],
    sequences: Sequence[Sequence[str]],
    *,
    extra_items: Sequence[str] = (),
    cold_fraction: float = 0.0,
    seed: int = 42,
) -> Split:
    """Split string sequences under the protocol (vocabulary = every item seen + extras)."""
    full = encode_sequences(users, sequences, extra_items)
    return split_holdout(full, cold_fraction=cold_fraction, seed=seed)


def evaluate(
    model: Recommender,
    targets: Validation,
    *,
    cold_items: np.ndarray | None = None,
    negatives: int = 100,
    seed: int = 42,
    batch_size: int = 1024,
) -> dict[str, object]:
    """Full-ranking metrics on ``targets``, plus cold-item and secondary classification figures.

    Secondary (labelled ``classification``): for each user, the held-out positive against
    ``negatives`` items sampled uniformly from those outside the input history and target:
    AUC = share of negatives scored below the positive; precision/recall/F1 of the decision
    "the item is in the user's full-catalog top 10", on one positive and one sampled negative
    per user.
    """
    rng = np.random.default_rng(seed)
    n_items = model.n_items
    ranks_all: list[np.ndarray] = []
    top_all: list[np.ndarray] = []
    pos_all: list[np.ndarray] = []
    neg_all: list[np.ndarray] = []
    neg_rank_all: list[np.ndarray] = []
    for lo in range(0, len(targets.targets), batch_size):
        hist = targets.histories[lo : lo + batch_size]
        tgt = targets.targets[lo : lo + batch_size]
        scores = np.array(model.score(targets.users[lo : lo + batch_size], hist), np.float32)
        mask_rows(scores, hist)
        ranks_all.append(target_ranks(scores, tgt))
        top_all.append(top_k(scores, 10)[0])
        negs = rng.integers(0, n_items, size=(len(tgt), negatives))
        bad = (negs == tgt[:, None]) | ~np.isfinite(np.take_along_axis(scores, negs, axis=1))
        while bad.any():
            negs[bad] = rng.integers(0, n_items, size=int(bad.sum()))
            bad = (negs == tgt[:, None]) | ~np.isfinite(np.take_along_axis(scores, negs, axis=1))
        pos_all.append(scores[np.arange(len(tgt)), tgt])
        neg_all.append(np.take_along_axis(scores, negs, axis=1))
        neg_rank_all.append(target_ranks(scores, negs[:, 0]))
    ranks = np.concatenate(ranks_all) if ranks_all else np.zeros(0, np.int64)
    out: dict[str, object] = dict(ranking_metrics(ranks))
    out["coverage@10"] = coverage(np.concatenate(top_all), n_items) if top_all else 0.0
    out["n_users"] = len(ranks)
    pos = np.concatenate(pos_all) if pos_all else np.zeros(0, np.float32)
    neg = np.concatenate(neg_all) if neg_all else np.zeros((0, negatives), np.float32)
    neg_ranks = np.concatenate(neg_rank_all) if neg_rank_all else np.zeros(0, np.int64)
    predicted = np.concatenate([ranks < 10, neg_ranks < 10])
    actual = np.concatenate([np.ones(len(ranks), bool), np.zeros(len(neg_ranks), bool)])
    out["classification"] = {
        "note": (
            "secondary figures: held-out test positive vs items sampled uniformly outside the "
            f"history; AUC over {negatives} negatives per user; precision/recall/F1 of "
            "'in the full-catalog top 10' on one positive + one negative per user"
        ),
        "auc": auc(pos, neg),
        **precision_recall_f1(predicted, actual),
    }
    if cold_items is not None and len(cold_items):
        is_cold = np.isin(targets.targets, cold_items)
        cold_ranks = ranks[is_cold]
        out["cold"] = {
            "n_items": len(cold_items),
            "n_targets": len(cold_ranks),
            "hr@10": float(np.mean(cold_ranks < 10)) if len(cold_ranks) else 0.0,
            "ndcg@10": ranking_metrics(cold_ranks, (10,))["ndcg@10"],
            "hr@20": float(np.mean(cold_ranks < 20)) if len(cold_ranks) else 0.0,
            "warm_hr@10": float(np.mean(ranks[~is_cold] < 10)) if (~is_cold).any() else 0.0,
            "warm_ndcg@10": ranking_metrics(ranks[~is_cold], (10,))["ndcg@10"],
        }
    return out
