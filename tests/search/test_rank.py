"""Rankers: the linear default, LambdaMART learning a known answer, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelf.errors import ArtifactError, NotFittedError
from shelf.search.features import FEATURE_NAMES, longest_true_run, rank_positions
from shelf.search.rank import LambdaMARTRanker, LinearRanker, load_ranker, relevance_labels


def test_relevance_labels_in_thirds() -> None:
    assert relevance_labels(np.array([1.0, 1.33, 2.0, 2.67, 3.0])).tolist() == [0, 1, 3, 5, 6]


def test_linear_ranker_is_a_weighted_sum() -> None:
    x = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    x[0, FEATURE_NAMES.index("dense_cos")] = 0.5
    x[1, FEATURE_NAMES.index("lex_score_rel")] = 1.0
    ranker = LinearRanker({"dense_cos": 2.0, "lex_score_rel": 0.5})
    np.testing.assert_allclose(ranker.predict(x), [1.0, 0.5])


def test_lambdamart_learns_which_feature_matters(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups, rows, labels = 60, 10, []
    x = rng.random((groups * rows, len(FEATURE_NAMES))).astype(np.float32)
    signal = x[:, FEATURE_NAMES.index("coverage")]
    labels = np.digitize(signal, [0.5, 0.8]) * 3
    ranker = LambdaMARTRanker(n_estimators=30, min_child_samples=5).fit(
        x, labels, np.full(groups, rows)
    )
    importance = ranker.feature_importance()
    assert max(importance, key=importance.__getitem__) == "coverage"
    ranker.save(tmp_path / "r")
    again = load_ranker(tmp_path / "r")
    np.testing.assert_allclose(again.predict(x), ranker.predict(x), rtol=1e-6)


def test_unfitted_and_foreign_rankers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        LambdaMARTRanker().predict(np.zeros((1, len(FEATURE_NAMES))))
    with pytest.raises(ArtifactError):
        load_ranker(tmp_path)
    LinearRanker().save(tmp_path / "lin")
    assert isinstance(load_ranker(tmp_path / "lin"), LinearRanker)


def test_feature_helpers() -> None:
    flags = np.array([[True, False], [True, True], [False, True]])
    assert longest_true_run(flags).tolist() == [2, 2]
    assert rank_positions(np.array([4, 1, 2]), np.array([2, 4])).tolist() == [1, 1000, 0]
    assert rank_positions(np.array([3]), np.zeros(0, dtype=np.int64)).tolist() == [1000]
    rng = np.random.default_rng(0)
    ranked = rng.permutation(500)[:120]
    docs = rng.permutation(500)[:200]
    where = {int(d): i for i, d in enumerate(ranked)}
    expected = [where.get(int(d), 1000) for d in docs]
    assert rank_positions(docs, ranked).tolist() == expected


def test_compiled_ranker_scores_like_lightgbm_and_is_cached(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((400, len(FEATURE_NAMES))).astype(np.float32)
    labels = np.digitize(x[:, FEATURE_NAMES.index("dense_cos")], [0.3, 0.7]) * 3
    ranker = LambdaMARTRanker(n_estimators=15, min_child_samples=5).fit(x, labels, np.full(40, 10))
    expected = ranker.predict(x)
    assert ranker.compile(tmp_path / "cache")
    assert ranker.compiled_ is not None
    np.testing.assert_allclose(ranker.predict(x), expected, rtol=1e-5, atol=1e-6)
    (library,) = (tmp_path / "cache").glob("lambdamart-*.so")
    built = library.stat().st_ino  # a rebuilt library would be renamed in: a new inode
    again = LambdaMARTRanker()
    again.booster_ = ranker.booster_
    assert again.compile(tmp_path / "cache")  # the same trees: loaded, not rebuilt
    assert library.stat().st_ino == built
    assert not list((tmp_path / "cache").glob("*.tmp*"))
    np.testing.assert_allclose(again.predict(x), expected, rtol=1e-5, atol=1e-6)
    ranker.fit(x, 2 * 3 - labels, np.full(40, 10))  # refitting drops the compiled trees
    assert ranker.compiled_ is None


def test_a_failed_compile_leaves_lightgbm_scoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lleaves

    rng = np.random.default_rng(2)
    x = rng.random((100, len(FEATURE_NAMES))).astype(np.float32)
    labels = np.digitize(x[:, 0], [0.5]) * 3
    ranker = LambdaMARTRanker(n_estimators=5, min_child_samples=5).fit(x, labels, np.full(10, 10))
    expected = ranker.predict(x)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("LLVM could not compile this")

    monkeypatch.setattr(lleaves.Model, "compile", broken)
    assert not ranker.compile(tmp_path)
    assert ranker.compiled_ is None
    np.testing.assert_array_equal(ranker.predict(x), expected)
    assert not list(tmp_path.glob("*.tmp*"))
