"""Metric functions against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shelf.recommend.metrics import (
    auc,
    coverage,
    hit_rate,
    mrr,
    ndcg,
    precision_recall_f1,
    ranking_metrics,
    target_ranks,
)


def test_target_ranks_pessimistic_ties_and_exclusion() -> None:
    scores = np.array(
        [[0.9, 0.5, 0.1, 0.3], [0.2, 0.2, 0.2, 0.1], [1.0, -np.inf, 0.0, 0.5]], dtype=np.float32
    )
    ranks = target_ranks(scores, np.array([1, 0, 1]))
    assert ranks.tolist() == [1, 2, 4]


def test_hand_computed_metrics() -> None:
    ranks = np.array([0, 1, 4, 9, 30])
    assert hit_rate(ranks, 5) == pytest.approx(3 / 5)
    assert hit_rate(ranks, 10) == pytest.approx(4 / 5)
    expected = (1 + 1 / math.log2(3) + 1 / math.log2(6)) / 5
    assert ndcg(ranks, 5) == pytest.approx(expected)
    assert mrr(ranks) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 10 + 1 / 31) / 5)
    metrics = ranking_metrics(ranks)
    assert set(metrics) == {"hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr"}
    assert metrics["ndcg@20"] == pytest.approx(expected + 1 / math.log2(11) / 5)


def test_coverage_auc_prf() -> None:
    assert coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    assert auc(np.array([1.0, 0.0]), np.array([[0.0, 2.0], [0.0, -1.0]])) == pytest.approx(
        (0.5 + 0.75) / 2
    )
    out = precision_recall_f1(
        np.array([True, True, False, False]), np.array([True, False, True, False])
    )
    assert out == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
