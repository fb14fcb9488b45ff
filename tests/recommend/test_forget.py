"""Erasure that reaches the models: after ``forget_users(U)``, every model that declares
``forgets_exactly`` holds exactly (``np.array_equal``, same dtype) the learned arrays of a fit
on the data without ``U``; the others drop the users' histories and await a retrain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from shelf.catalog import parse_event
from shelf.errors import ArtifactError
from shelf.recommend.base import ERASED, Recommender
from shelf.recommend.blend import Blend
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.data import Interactions, SequenceData, sequences_from_interactions
from shelf.recommend.popularity import Trending
from shelf.recommend.registry import build, load
from shelf.recommend.service import RecommendService
from shelf.synthetic import generate_behaviour, generate_catalog

from .conftest import cycle_sequences

EXACT = ("pop", "trending", "cooc", "textknn")
LEARNED = {  # the derived arrays of each exact model, besides its counts
    "pop": ("popularity_",),
    "trending": ("trend_",),
    "cooc": ("similar_", "together_"),
    "textknn": ("item_text_",),
}
LONER = "loner"  # a user whose items no one else has
LATECOMER = "latecomer"  # the user with the newest events, alone in their hour


def item_text(n_items: int) -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(n_items, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def interactions(events: list[dict[str, Any]]) -> Interactions:
    parsed = [parse_event(e) for e in events if e.get("item_id")]
    return Interactions(
        user=[e.user_id for e in parsed],
        item=[str(e.item_id) for e in parsed],
        timestamp=[e.timestamp.timestamp() for e in parsed],
        type=[e.type.value for e in parsed],
        session=[e.session_id for e in parsed],
    )


def loner_events(start: float) -> list[dict[str, Any]]:
    """Two items only the loner views and buys together, in one session."""
    return [
        {"user_id": LONER, "item_id": item, "type": kind, "session_id": "loner-s1",
         "timestamp": start + 60.0 * k}
        for k, (item, kind) in enumerate(
            [("solo-a", "view"), ("solo-b", "view"), ("solo-a", "purchase"), ("solo-b", "purchase")]
        )
    ]  # fmt: skip


def shop_data() -> SequenceData:
    """A small synthetic shop: sessions with purchases, baskets and timestamps, plus the loner
    and the latecomer (who views, hours after everyone else, items others have too)."""
    catalog = generate_catalog(200, seed=3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    events = list(generate_behaviour(catalog, 200, seed=3, start=start, days=30))
    events += loner_events(start.timestamp() + 86400.0)
    last = max(parse_event(e).timestamp.timestamp() for e in events)
    events += [
        {"user_id": LATECOMER, "item_id": e["item_id"], "type": "view", "timestamp": last + 7200.0}
        for e in events[:3]
    ]
    data = sequences_from_interactions(
        interactions(events), extra_items=[str(i["item_id"]) for i in catalog]
    )
    data.categories = [f"c{k % 7}" for k in range(data.n_items)]
    data.item_text = item_text(data.n_items)
    return data


def cycle_data() -> SequenceData:
    """The cycle sequences plus the loner, as SequenceData without timestamps or baskets."""
    from shelf.recommend.data import encode_sequences

    users, seqs = cycle_sequences()
    data = encode_sequences([*users, LONER], [*seqs, ["solo-a", "solo-b", "solo-a"]])
    data.item_text = item_text(data.n_items)
    return data


def without(data: SequenceData, gone: list[str]) -> SequenceData:
    """``data`` without the users ``gone``; the item vocabulary stays (items are catalog)."""
    keep = [u for u, user in enumerate(data.users) if user not in set(gone)]

    def pick(column: list[np.ndarray] | None) -> list[np.ndarray] | None:
        return None if column is None else [column[u] for u in keep]

    return SequenceData(
        users=[data.users[u] for u in keep],
        items=data.items,
        sequences=[data.sequences[u] for u in keep],
        baskets=pick(data.baskets),
        purchased=pick(data.purchased),
        timestamps=pick(data.timestamps),
        categories=data.categories,
        item_text=data.item_text,
    )


def learned(model: Recommender, name: str) -> dict[str, np.ndarray]:
    """Every learned item-level array of an exact model: its counts, what is derived from
    them, and the item counts it serves with (user-indexed records are compared apart)."""
    out: dict[str, np.ndarray] = {"item_counts": model.item_counts_}
    if hasattr(model, "_count_arrays"):
        out.update(model._count_arrays())
    for attribute in LEARNED[name]:
        value = getattr(model, attribute)
        if sp.issparse(value):
            out.update(
                {f"{attribute}{k}": getattr(value, k) for k in ("data", "indices", "indptr")}
            )
        else:
            out[attribute] = value
    return out


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype, f"{key}: {x.dtype} != {y.dtype}"
        assert np.array_equal(x, y), f"{key} differs"


def records_left(model: Recommender) -> list[tuple[int, ...]]:
    """The kept training records of the users not erased, as tuples (to compare fits)."""
    records = model.records_  # type: ignore[attr-defined]
    pairs = zip(records.sequences, model.users_, strict=True)
    return [tuple(s.tolist()) for s, u in pairs if u != ERASED]


def newest_user(data: SequenceData) -> str:
    assert data.timestamps is not None
    return data.users[int(np.argmax([t.max() if len(t) else -np.inf for t in data.timestamps]))]


DATASETS = {"cycle": cycle_data, "shop": shop_data}


@pytest.fixture(scope="module")
def datasets() -> dict[str, SequenceData]:
    return {name: make() for name, make in DATASETS.items()}


def co_buyers(data: SequenceData, n: int) -> list[str]:
    """Users with a basket of two different purchased items."""
    assert data.baskets is not None and data.purchased is not None
    found = []
    for user, seq, keys, bought in zip(
        data.users, data.sequences, data.baskets, data.purchased, strict=True
    ):
        if any(len(set(seq[bought & (keys == k)].tolist())) > 1 for k in set(keys.tolist())):
            found.append(user)
    return found[:n]


def forget_cases(data: SequenceData) -> dict[str, list[str]]:
    users = [u for u in data.users if u not in {LONER, LATECOMER}]
    cases = {"one": [users[3]], "several": [users[0], users[7], users[12], users[20]]}
    cases["loner"] = [LONER]
    cases["loner and others"] = [users[5], LONER, users[1]]
    if data.timestamps is not None:
        cases["newest"] = [newest_user(data)]
        cases["newest and loner"] = [newest_user(data), LONER, users[2]]
        cases["co-buyers"] = co_buyers(data, 5)
    return cases


def test_the_shop_exercises_every_count(datasets: dict[str, SequenceData]) -> None:
    """The cases reach what they are meant to: the newest hour moves when the latecomer goes,
    co-buyers hold bought-together pairs, the loner holds items of their own."""
    data = datasets["shop"]
    assert newest_user(data) == LATECOMER
    trending = build("trending").fit(data)
    assert isinstance(trending, Trending)
    newest = trending.trend_counts_.keys.max()
    trending.forget_users([LATECOMER])
    assert trending.trend_counts_.keys.max() < newest
    cooc = build("cooc").fit(data)
    assert isinstance(cooc, ItemCooccurrence) and cooc.basket_source_ == "purchases"
    before = cooc.together_.copy()
    assert before.nnz and len(co_buyers(data, 5)) == 5
    cooc.forget_users(co_buyers(data, 5))
    assert (before != cooc.together_).nnz


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", EXACT)
def test_forgetting_equals_a_fit_without_the_users(
    datasets: dict[str, SequenceData], dataset: str, name: str
) -> None:
    data = datasets[dataset]
    for case, gone in forget_cases(data).items():
        model = build(name).fit(data)
        assert model.forgets_exactly
        assert model.forget_users([*gone, "never-seen"]) == gone, case
        refit = build(name).fit(without(data, gone))
        assert_same(learned(model, name), learned(refit, name))
        if hasattr(model, "records_"):
            assert records_left(model) == records_left(refit), case


@pytest.mark.parametrize("name", EXACT)
def test_the_order_of_forgetting_does_not_matter(
    datasets: dict[str, SequenceData], name: str
) -> None:
    data = datasets["shop"]
    gone = [data.users[1], LONER, newest_user(data), data.users[9]]
    one_by_one = build(name).fit(data)
    for user in reversed(gone):
        one_by_one.forget_users([user])
    at_once = build(name).fit(data)
    at_once.forget_users(gone)
    assert_same(learned(one_by_one, name), learned(at_once, name))


def test_the_loner_takes_the_items_only_they_had(datasets: dict[str, SequenceData]) -> None:
    data = datasets["shop"]
    model = build("cooc").fit(data)
    assert isinstance(model, ItemCooccurrence)
    solo = model.item_index_["solo-a"]
    assert model.similar_[solo].nnz and model.occurrences_[solo] == 2
    model.forget_users([LONER])
    assert model.similar_[solo].nnz == 0 and model.together_[:, solo].nnz == 0
    assert model.occurrences_[solo] == 0 and model.item_counts_[solo] == 0


def test_forgetting_the_last_co_purchase_falls_back_like_a_fit() -> None:
    """When the forgotten user held the only basket with two purchased items, bought-together
    falls back to adjacent pairs, as a fit on the data without them does."""
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    events = loner_events(start) + [
        {"user_id": f"v{k}", "item_id": f"i{(k + j) % 6}", "type": t, "session_id": f"v{k}-s",
         "timestamp": start + 600.0 * k + j}
        for k in range(12)
        for j, t in enumerate(["view", "view", "purchase"])
    ]  # fmt: skip
    data = sequences_from_interactions(interactions(events))
    model = build("cooc", min_support=1).fit(data)
    assert isinstance(model, ItemCooccurrence) and model.basket_source_ == "purchases"
    model.forget_users([LONER])
    refit = build("cooc", min_support=1).fit(without(data, [LONER]))
    assert isinstance(refit, ItemCooccurrence)
    assert model.basket_source_ == refit.basket_source_ == "adjacent"
    assert_same(learned(model, "cooc"), learned(refit, "cooc"))


def test_forgotten_users_are_served_as_unknown(datasets: dict[str, SequenceData]) -> None:
    data = datasets["shop"]
    for name in (*EXACT, "als"):
        model = build(name).fit(data)
        user = data.users[4]
        assert len(model.histories_[model.user_index_[user]])
        model.forget_users([user])
        assert user not in model.user_index_ and user not in model.users_
        assert ERASED in model.users_ and len(model.users_) == data.n_users
        a, b = model.recommend([user], 5), model.recommend(["a-stranger"], 5)
        assert (a.ids == b.ids).all() and np.allclose(a.scores, b.scores), name
        assert model.forget_users([user]) == []  # the second time, nobody is known


def test_models_with_weights_forget_their_users_but_not_exactly(
    datasets: dict[str, SequenceData],
) -> None:
    data = datasets["cycle"]
    for name in ("als", "bpr"):
        model = build(name, factors=4, iterations=3).fit(data)
        assert not model.forgets_exactly
        index = model.user_index_[data.users[2]]
        assert np.any(model.user_factors_[index] != 0)  # type: ignore[attr-defined]
        model.forget_users([data.users[2]])
        assert np.all(model.user_factors_[index] == 0)  # type: ignore[attr-defined]
        assert len(model.histories_[index]) == 0


SASREC = {"dim": 8, "max_epochs": 2, "eval_every": 100, "negatives": 0}


def test_a_blend_forgets_its_counts_part_exactly(datasets: dict[str, SequenceData]) -> None:
    data = datasets["cycle"]
    parts = [["sasrec", SASREC], ["cooc", {}]]
    blend = build("blend", parts=parts, weights=[1.0, 0.5]).fit(data)
    assert isinstance(blend, Blend)
    assert not blend.forgets_exactly  # the SASRec part needs a retrain
    gone = [data.users[0], LONER]
    assert blend.forget_users(gone) == gone
    sasrec, cooc = blend.models
    assert all(u not in m.user_index_ for m in (blend, sasrec, cooc) for u in gone)
    assert_same(learned(cooc, "cooc"), learned(build("cooc").fit(without(data, gone)), "cooc"))
    exact = build("blend", parts=[["pop", {}], ["cooc", {}]], weights=[1.0, 0.5]).fit(data)
    assert exact.forgets_exactly
    tuned = build("blend", parts=[["pop", {}], ["cooc", {}]])
    assert not tuned.forgets_exactly  # weights tuned on the users' validation targets


@pytest.mark.parametrize("name", EXACT)
def test_save_load_forget_save_load(
    datasets: dict[str, SequenceData], name: str, tmp_path: Path
) -> None:
    data = datasets["shop"]
    gone = [newest_user(data), LONER]
    loaded = load(build(name).fit(data).save(tmp_path / "fitted"))
    assert loaded.forget_users(gone) == gone
    refit = build(name).fit(without(data, gone))
    assert_same(learned(loaded, name), learned(refit, name))
    again = load(loaded.save(tmp_path / "forgotten"))
    assert_same(learned(again, name), learned(refit, name))
    assert all(u not in again.user_index_ for u in gone)
    assert again.users_.count(ERASED) == len(gone)
    users = [data.users[k] for k in (0, 5, 9)] + gone
    a, b = again.recommend(users, 5), refit.recommend(users, 5)
    assert (a.ids == b.ids).all()


def test_forgetting_what_was_fitted_not_what_is_served(
    datasets: dict[str, SequenceData], tmp_path: Path
) -> None:
    """A model fitted on truncated sequences and serving the full ones (``shelf train``)
    subtracts what it learned: the truncated sequences."""
    data = datasets["shop"]
    truncated = data.replace_sequences([s[:-2] for s in data.sequences])
    model = build("cooc").fit(truncated)
    model.update_histories(data)
    model = load(model.save(tmp_path / "cooc"))
    gone = [data.users[6], LONER]
    model.forget_users(gone)
    refit = build("cooc").fit(without(truncated, gone))
    refit_counts = learned(refit, "cooc")
    refit_counts["item_counts"] = without(data, gone).item_counts()  # served: the full ones
    assert_same(learned(model, "cooc"), refit_counts)


def test_artifacts_without_counts_are_refused_with_a_retrain_hint(
    datasets: dict[str, SequenceData], tmp_path: Path
) -> None:
    import json

    root = build("trending").fit(datasets["cycle"]).save(tmp_path / "old")
    meta = json.loads((root / "model.json").read_text())
    meta["arrays"] = [a for a in meta["arrays"] if not a.startswith("model_trend_")]
    (root / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"old: the 'trending' artifact .* retrain"):
        load(root)


def test_items_added_after_the_fit_are_kept_when_forgetting(
    datasets: dict[str, SequenceData],
) -> None:
    data = datasets["shop"]
    model = build("cooc").fit(data)
    model.add_items(["brand-new"])
    gone = [data.users[2], LATECOMER]
    model.forget_users(gone)
    grown = without(data, gone)
    grown.items = [*data.items, "brand-new"]
    grown.item_index = {item: i for i, item in enumerate(grown.items)}
    assert_same(learned(model, "cooc"), learned(build("cooc").fit(grown), "cooc"))


def service_on(data: SequenceData, personal: Recommender) -> RecommendService:
    cooc, trending = ItemCooccurrence().fit(data), Trending().fit(data)
    bought = {data.users[0]: [data.items[int(data.sequences[0][0])]]}
    return RecommendService(personal, cooc, trending, bought=bought)


def test_the_service_erases_a_user_from_every_model(datasets: dict[str, SequenceData]) -> None:
    data = datasets["shop"]
    user = data.users[0]
    service = service_on(data, build("cooc").fit(data))
    service.record_event(user, data.items[3], "purchase")
    assert service.for_you(user, 5).source == "personal" and service.bought_items(user)
    assert service.erase_user(user) is False  # every model forgot exactly: no retrain due
    assert service.history(user) == [] and not service.bought_items(user)
    assert not service.has_live(user)
    assert service.for_you(user, 5).source in {"trending", "popular"}
    for model in (service.personal, service.cooc, service.trending_model):
        assert user not in model.user_index_
    refit = ItemCooccurrence().fit(without(data, [user]))
    assert_same(learned(service.cooc, "cooc"), learned(refit, "cooc"))
    assert service.erase_user("nobody-we-know") is False


def test_the_service_asks_for_a_retrain_when_a_model_cannot_forget_exactly(
    datasets: dict[str, SequenceData],
) -> None:
    data = datasets["cycle"]
    service = service_on(data, build("sasrec", **SASREC).fit(data))
    assert service.forget_user(data.users[1]) is True  # the store path erases too
    assert data.users[1] not in service.personal.user_index_
    assert service.erase_user("nobody-we-know") is False  # SASRec never learned from them


def test_live_state_is_bounded(
    datasets: dict[str, SequenceData], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelf.recommend import live as module

    monkeypatch.setattr(module, "MAX_LIVE_USERS", 3)
    data = datasets["cycle"]
    service = service_on(data, build("pop").fit(data))
    for k in range(5):
        for _ in range(module.MAX_LIVE + 5):
            service.record_event(f"visitor-{k}", data.items[k])
    assert [service.has_live(f"visitor-{k}") for k in range(5)] == [False] * 2 + [True] * 3
    assert len(service.history("visitor-4")) == module.MAX_LIVE
    service.record_event("visitor-2", data.items[0])  # now the most recent
    service.record_event("visitor-5", data.items[0])
    assert not service.has_live("visitor-3") and service.has_live("visitor-2")
    fresh = service_on(data, build("pop").fit(data))
    fresh.carry_live_state(service)
    fresh.record_event("visitor-6", data.items[0])  # drops the least recent carried over
    assert [fresh.has_live(f"visitor-{k}") for k in (4, 2, 5, 6)] == [False, True, True, True]
