"""The Recommender contract: every model passes the same suite on data with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelf.errors import NotFittedError, NotFoundError
from shelf.recommend.base import Recommender
from shelf.recommend.data import SequenceData, encode_sequences
from shelf.recommend.registry import build, load

from .conftest import expected_next

FAST_SASREC = {
    "dim": 16,
    "max_epochs": 30,
    "eval_every": 100,
    "dropout": 0.1,
    "lr": 5e-3,
    "negatives": 0,
}
MODELS = {
    "cooc": {},
    "als": {"factors": 8, "iterations": 10, "regularization": 0.01},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "ncf": {"dim": 16, "hidden": 32, "epochs": 100, "lr": 1e-2, "batch_size": 128},
    "sasrec": FAST_SASREC,
    "sasrec-sampled": {**FAST_SASREC, "negatives": 8},
    "sasrec-prenorm": {**FAST_SASREC, "block": "prenorm"},
    "blend": {"parts": [["sasrec", FAST_SASREC], ["cooc", {}]], "weights": [1.0, 0.5]},
    "sasrec-text": {**FAST_SASREC, "id_dropout": 0.2},
    "textknn": {},
}
PERSONAL = tuple(MODELS)
ALL = (*PERSONAL, "pop", "trending")


def group_text(items: list[str]) -> np.ndarray:
    """Stand-in text embeddings: items of one group share a direction, plus a little noise."""
    vectors = np.random.default_rng(0).normal(0, 0.1, size=(len(items), 8)).astype(np.float32)
    for k, item in enumerate(items):
        vectors[k, int(item[1])] += 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make(name: str) -> Recommender:
    model = "sasrec" if name in ("sasrec-sampled", "sasrec-prenorm") else name
    return build(model, **MODELS.get(name, {}))


def cycle_data() -> SequenceData:
    """The cycle sequences, with stand-in text embeddings for the text-aware models."""
    from .conftest import cycle_sequences

    data = encode_sequences(*cycle_sequences())
    data.item_text = group_text(data.items)
    return data


@pytest.fixture(scope="module")
def fitted() -> dict[str, Recommender]:
    data = cycle_data()
    return {name: make(name).fit(data) for name in ALL}


@pytest.mark.parametrize("name", PERSONAL)
def test_known_answer_first(fitted: dict[str, Recommender], name: str) -> None:
    model = fitted[name]
    users = model.users_
    ids, _ = model.recommend(users, 1)
    hits = np.mean([ids[k, 0] == expected_next(u) for k, u in enumerate(users)])
    assert hits >= 0.9, f"{name}: only {hits:.0%} of users got the unseen group item first"


@pytest.mark.parametrize("name", ALL)
def test_shapes_history_and_filters(fitted: dict[str, Recommender], name: str) -> None:
    model = fitted[name]
    users = model.users_[:7]
    ids, scores = model.recommend(users, 5)
    assert ids.shape == (7, 5) and scores.shape == (7, 5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "scores not sorted best first"
    for row, user in enumerate(users):
        history = {model.items_[i] for i in model.histories_[model.user_index_[user]]}
        assert not history & set(ids[row])
    banned = [[str(ids[r, 0])] for r in range(7)]
    ids2, _ = model.recommend(users, 5, exclude=banned)
    assert all(banned[r][0] not in ids2[r] for r in range(7))
    allowed = model.items_[:6]
    ids3, _ = model.recommend(users, 5, candidates=allowed)
    assert set(ids3.ravel()) - {""} <= set(allowed)


@pytest.mark.parametrize("name", ALL)
def test_batch_equals_one_by_one(fitted: dict[str, Recommender], name: str) -> None:
    model = fitted[name]
    users = model.users_[:6]
    _, batch_scores = model.recommend(users, 4)
    for row, user in enumerate(users):
        _, scores = model.recommend([user], 4)
        np.testing.assert_allclose(scores[0], batch_scores[row], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_save_load_same_scores(fitted: dict[str, Recommender], name: str, tmp_path: Path) -> None:
    model = fitted[name]
    model.save(tmp_path / name)
    loaded = load(tmp_path / name)
    users = model.users_[:10]
    a = model.recommend(users, 5)
    b = loaded.recommend(users, 5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    assert (a.ids == b.ids).all()


@pytest.mark.parametrize("name", ALL)
def test_similar_items_and_unknowns(fitted: dict[str, Recommender], name: str) -> None:
    model = fitted[name]
    ids, _ = model.similar_items(["g0i0", "g1i2"], 3)
    assert ids.shape == (2, 3)
    assert "g0i0" not in ids[0] and "g1i2" not in ids[1]
    with pytest.raises(NotFoundError):
        model.similar_items(["nope"], 3)
    ids, _ = model.recommend(["a-new-user"], 3)
    assert (ids != "").all()


@pytest.mark.parametrize("name", ("cooc", "sasrec"))
def test_request_time_history_changes_answer(fitted: dict[str, Recommender], name: str) -> None:
    model = fitted[name]
    a = model.recommend_histories([["g0i0", "g0i1", "g0i2", "g0i3"]], 1).ids[0, 0]
    b = model.recommend_histories([["g3i0", "g3i1", "g3i2", "g3i3"]], 1).ids[0, 0]
    assert (a, b) == ("g0i4", "g3i4")


def test_popularity_known_answer(cycle_data: SequenceData) -> None:
    extra = cycle_data.replace_sequences(
        [*cycle_data.sequences[:-1], np.array([0, 1, 2, 3, 0, 0, 0, 0, 0])]
    )
    model = build("pop").fit(extra)
    ids, _ = model.recommend(["nobody"], 1)
    assert ids[0, 0] == extra.items[0]


@pytest.mark.parametrize("name", ALL)
def test_not_fitted(name: str) -> None:
    with pytest.raises(NotFittedError):
        make(name).recommend(["u"], 3)


def test_new_items_recommendable_without_retraining() -> None:
    """A text-aware blend takes a new item from its text alone; the service explains it."""
    from shelf.recommend.cooccur import ItemCooccurrence
    from shelf.recommend.popularity import Trending
    from shelf.recommend.service import RecommendService

    data = cycle_data()
    model = build(
        "blend",
        parts=[["sasrec-text", {**FAST_SASREC, "id_dropout": 0.3}], ["textknn", {}]],
        weights=[1.0, 1.0],
    )
    model.fit(data)
    service = RecommendService(model, ItemCooccurrence().fit(data), Trending().fit(data))
    new_text = group_text(["g2new"])
    service.add_items(["g2new"], new_text, titles={"g2new": "New thing"})
    answer = service.for_you("u2-0-0", 2)
    ids = [r.item_id for r in answer.items]
    assert "g2new" in ids
    reason = answer.items[ids.index("g2new")].reason
    assert reason.startswith("new, similar to")


@pytest.mark.parametrize("name", ("sasrec", "sasrec-prenorm", "sasrec-text"))
def test_sasrec_one_history_through_onnxruntime_scores_like_torch(
    fitted: dict[str, Recommender], name: str
) -> None:
    from shelf.recommend.sasrec import SASRec

    model = fitted[name]
    assert isinstance(model, SASRec)
    histories = [np.array([0, 3, 1, 4]), np.arange(len(model.items_)).repeat(9)[:70]]
    for hist in histories:  # one history: onnxruntime; two: torch in one batch
        alone = model.score(np.array([0]), [hist])
        batch = model.score(np.array([0, 1]), [hist, np.array([2])])
        np.testing.assert_allclose(alone[0], batch[0], rtol=1e-4, atol=1e-4)
    assert model._single is not None  # served through onnxruntime, not the torch fallback


def test_sasrec_artifact_from_before_the_block_choice_loads_as_prenorm(
    fitted: dict[str, Recommender], tmp_path: Path
) -> None:
    import json

    from shelf.recommend.registry import load

    model = fitted["sasrec-prenorm"]
    path = model.save(tmp_path / "old")
    meta = path / "model.json"
    doc = json.loads(meta.read_text())
    assert doc["params"].pop("block") == "prenorm"
    meta.write_text(json.dumps(doc))  # what an artifact written before the choice holds
    loaded = load(path)
    assert getattr(loaded, "block", None) == "prenorm"
    hist = [np.array([0, 3, 1])]
    np.testing.assert_allclose(
        loaded.score(np.array([0]), hist), model.score(np.array([0]), hist), rtol=1e-5, atol=1e-5
    )


def test_sasrec_block_must_be_known() -> None:
    with pytest.raises(ValueError, match="block must be one of"):
        build("sasrec", **{**FAST_SASREC, "block": "postnorm"}).fit(cycle_data())


def test_sasrec_text_keeps_its_onnx_session_when_items_are_added() -> None:
    from shelf.recommend.sasrec import SASRec

    data = cycle_data()
    model = make("sasrec-text")
    model.fit(data)
    assert isinstance(model, SASRec)
    hist = [np.array([0, 5, 2])]
    model.score(np.array([0]), hist)
    session = model._single
    assert session is not None
    model.add_items(["g1new"], group_text(["g1new"]))
    assert model._single is session
    alone = model.score(np.array([0]), hist)
    batch = model.score(np.array([0, 1]), [hist[0], np.array([1])])
    assert alone.shape == (1, len(data.items) + 1)
    np.testing.assert_allclose(alone[0], batch[0], rtol=1e-4, atol=1e-4)


def test_blend_standardise_matches_numpy_z_scores() -> None:
    from shelf.recommend.blend import standardise

    rng = np.random.default_rng(3)
    scores = (rng.standard_normal((4, 500)) * 7 + 2).astype(np.float32)
    scores[2] = 5.0  # a constant row: no spread, so all zeros rather than a division by zero
    z = standardise(scores)
    expected = (scores - scores.mean(axis=1, keepdims=True)) / np.maximum(
        scores.std(axis=1, keepdims=True), 1e-9
    )
    np.testing.assert_allclose(z, expected, atol=1e-5)
    assert np.all(z[2] == 0) and z is not scores
    np.testing.assert_allclose(z[[0, 1, 3]].std(axis=1), 1.0, atol=1e-5)
