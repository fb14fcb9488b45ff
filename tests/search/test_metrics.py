"""Search metrics computed by hand on small cases."""

from __future__ import annotations

import math

import pytest

from shelf.evaluate.search_metrics import (
    evaluate_rankings,
    latency_summary,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)

JUDGED = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 2.5}


def test_ndcg_by_hand() -> None:
    ranked = ["c", "a", "x", "b"]
    dcg = 2.0 / math.log2(3) + 1.0 / math.log2(5)
    ideal = 2.0 / 1 + 1.5 / math.log2(3) + 1.0 / math.log2(4)
    assert ndcg_at_k(ranked, JUDGED, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["a", "d", "b"], JUDGED, 10) == pytest.approx(1.0)


def test_ndcg_cuts_at_k_and_skips_all_zero_queries() -> None:
    assert ndcg_at_k(["x", "a"], JUDGED, 1) == 0.0
    assert ndcg_at_k(["a"], {"a": 1.0, "b": 1.0}, 10) is None


def test_recall_counts_relevance_two_and_above() -> None:
    assert recall_at_k(["a", "x", "c"], JUDGED, 100) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "d"], JUDGED, 2) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], {"a": 1.5}, 100) is None


def test_mrr_uses_relevance_two_and_a_half() -> None:
    assert mrr_at_k(["b", "c", "d"], JUDGED, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["b", "c"], JUDGED, 10) == 0.0
    assert mrr_at_k(["b"], {"b": 2.0}, 10) == 0.0


def test_means_skip_undefined_queries() -> None:
    rankings = {"q1": ["a", "d", "b"], "q2": ["x"], "q3": ["a"]}
    qrels = {"q1": JUDGED, "q2": {"y": 3.0}, "q3": {"a": 1.0}}
    metrics = evaluate_rankings(rankings, qrels)
    assert metrics["queries"] == 2
    assert metrics["ndcg@10"] == pytest.approx(0.5)
    assert metrics["mrr@10"] == pytest.approx(0.5)  # q1: 1, q2: 0 (nothing found)


def test_latency_percentiles_in_ms() -> None:
    summary = latency_summary([0.001] * 99 + [0.101])
    assert summary["p50_ms"] == pytest.approx(1.0)
    assert summary["p99_ms"] == pytest.approx(1.0 + 0.01 * 100, rel=1e-6)
