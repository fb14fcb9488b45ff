"""BM25 scores: against bm25s (the reference implementation), by hand, and after growth."""

from __future__ import annotations

import math

import bm25s
import numpy as np
import pytest

from shelf.search.bm25 import BM25Field
from shelf.search.lexical import top_k

DOCS = [
    ["cordless", "drill", "18", "volt"],
    ["hammer", "drill"],
    ["door", "hinge", "door"],
    ["paint", "roller"],
    ["cordless", "impact", "driver", "drill", "kit"],
]


@pytest.mark.parametrize("query", [["drill"], ["cordless", "drill"], ["door", "paint"], ["kit"]])
def test_scores_match_bm25s(query: list[str]) -> None:
    ours = BM25Field(k1=1.5, b=0.75).fit(DOCS).scores(query)
    reference = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    reference.index(DOCS, show_progress=False)
    np.testing.assert_allclose(ours, reference.get_scores(query), rtol=1e-5, atol=1e-6)


def test_score_by_hand() -> None:
    index = BM25Field(k1=1.2, b=0.5).fit(DOCS)
    n, df, tf, dl = 5, 1, 2, 3
    avgdl = sum(map(len, DOCS)) / n
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    expected = idf * tf / (tf + 1.2 * (1 - 0.5 + 0.5 * dl / avgdl))
    assert index.scores(["door"])[2] == pytest.approx(expected, rel=1e-6)
    assert index.scores(["door"])[[0, 1, 3, 4]].tolist() == [0, 0, 0, 0]


def test_unknown_terms_and_repeats() -> None:
    index = BM25Field().fit(DOCS)
    assert not index.scores(["nothing"]).any()
    np.testing.assert_allclose(index.scores(["drill", "drill"]), index.scores(["drill"]))


def test_adding_documents_equals_indexing_them_at_once() -> None:
    grown = BM25Field().fit(DOCS[:3])
    grown.add(DOCS[3:])
    whole = BM25Field().fit(DOCS)
    for q in (["drill"], ["door", "kit"]):
        np.testing.assert_allclose(grown.scores(q), whole.scores(q), rtol=1e-6)


def test_save_and_load_give_the_same_scores() -> None:
    index = BM25Field().fit(DOCS)
    again = BM25Field.from_arrays(index.to_arrays())
    query = ["cordless", "drill"]
    np.testing.assert_allclose(again.scores(query), index.scores(query))


def test_top_k_orders_by_score_then_id() -> None:
    scores = np.array([0.0, 2.0, 1.0, 2.0, 0.5], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 4]
    mask = np.array([True, False, True, True, True])
    assert top_k(scores, 2, mask).tolist() == [3, 2]


def test_first_positions_are_kept_across_growth() -> None:
    grown = BM25Field(positions=True).fit(DOCS[:2])
    grown.add(DOCS[2:])
    docs, first = grown.first_positions("drill")
    assert docs.tolist() == [0, 1, 4] and first.tolist() == [1, 1, 3]
    docs, first = grown.first_positions("door")  # repeated in doc 2: the first one counts
    assert docs.tolist() == [2] and first.tolist() == [0]
    assert len(grown.first_positions("nothing")[0]) == 0
    again = BM25Field.from_arrays(grown.to_arrays())
    assert again.first_positions("kit")[1].tolist() == [4]
    with pytest.raises(ValueError):
        BM25Field().fit(DOCS).first_positions("drill")


def test_scores_at_candidates_equal_the_full_scores_and_follow_additions() -> None:
    field = BM25Field().fit(DOCS)
    docs = np.array([4, 0, 2, 3])
    for terms, weights in [
        (["cordless", "drill"], None),
        (["drill", "hinge", "drill", "zzz"], [1.0, 0.5, 0.25, 1.0]),
    ]:
        np.testing.assert_allclose(
            field.scores_at(terms, docs, weights), field.scores(terms, weights)[docs], rtol=1e-6
        )
    assert field.scores_at(["zzz"], docs).tolist() == [0.0] * 4
    assert field.scores_at(["drill"], np.zeros(0, dtype=np.int64)).shape == (0,)
    before = field.scores_at(["drill"], docs)
    # a new document changes idf and average length: the by-document copy is rebuilt
    field.add([["drill", "drill", "bits"]])
    after = field.scores_at(["drill"], np.array([*docs, len(DOCS)]))
    np.testing.assert_allclose(after, field.scores(["drill"])[[*docs, len(DOCS)]], rtol=1e-6)
    assert after[-1] > 0 and not np.allclose(after[:-1], before)
