"""The leave-one-out holdout (PROTOCOL.md) that training and evaluation share.

Per user: train on all but the last two items, validate on the second-to-last (input = the
training items), test on the last (input = every earlier item, the validation item included).
Users with fewer than three items only contribute training items. ``cold_fraction`` removes
that share of items (seeded) from training entirely and drops validation targets that are cold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shelf.recommend.base import Recommender, Validation, mask_rows, top_k
from shelf.recommend.data import SequenceData
from shelf.recommend.metrics import coverage, ranking_metrics, target_ranks


@dataclass
class Split:
    """Training data, validation targets and test targets of one leave-one-out split."""

    train: SequenceData
    validation: Validation
    test: Validation
    cold_items: np.ndarray


def split_holdout(full: SequenceData, *, cold_fraction: float = 0.0, seed: int = 42) -> Split:
    """Split ``full`` under the protocol (the vocabulary stays the same)."""
    rng = np.random.default_rng(seed)
    n_cold = round(cold_fraction * full.n_items)
    cold = np.sort(rng.choice(full.n_items, size=n_cold, replace=False)).astype(np.int64)
    is_cold = np.zeros(full.n_items, dtype=bool)
    is_cold[cold] = True
    train_seqs: list[np.ndarray] = []
    val_users, val_hist, val_targets = [], [], []
    test_users, test_hist, test_targets = [], [], []
    for u, seq in enumerate(full.sequences):
        train = seq[:-2] if len(seq) >= 3 else seq[:0]
        train = train[~is_cold[train]]
        train_seqs.append(train)
        if len(seq) < 3:
            continue
        if not is_cold[seq[-2]] and len(train):
            val_users.append(u)
            val_hist.append(train)
            val_targets.append(seq[-2])
        test_users.append(u)
        test_hist.append(seq[:-1])
        test_targets.append(seq[-1])
    return Split(
        train=full.replace_sequences(train_seqs),
        validation=Validation(
            np.array(val_users, np.int64), val_hist, np.array(val_targets, np.int64)
        ),
        test=Validation(
            np.array(test_users, np.int64), test_hist, np.array(test_targets, np.int64)
        ),
        cold_items=cold,
    )


def holdout_metrics(
    model: Recommender, targets: Validation, *, batch_size: int = 1024
) -> dict[str, float]:
    """HR@k, NDCG@k, MRR and coverage@10 of ``model`` on held-out targets: full ranking,
    the input history excluded."""
    ranks_all: list[np.ndarray] = []
    top_all: list[np.ndarray] = []
    for lo in range(0, len(targets.targets), batch_size):
        hist = targets.histories[lo : lo + batch_size]
        scores = np.array(model.score(targets.users[lo : lo + batch_size], hist), np.float32)
        mask_rows(scores, hist)
        ranks_all.append(target_ranks(scores, targets.targets[lo : lo + batch_size]))
        top_all.append(top_k(scores, 10)[0])
    ranks = np.concatenate(ranks_all) if ranks_all else np.zeros(0, np.int64)
    out = ranking_metrics(ranks)
    out["coverage@10"] = coverage(np.concatenate(top_all), model.n_items) if top_all else 0.0
    return out
