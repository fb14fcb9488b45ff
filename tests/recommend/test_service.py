"""The online service and its HTTP routes: fallback chain, exclusions, reasons, live events."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelf import artifacts
from shelf.errors import NotFoundError
from shelf.recommend.data import Interactions, sequences_from_interactions
from shelf.recommend.service import RecommendService
from shelf.serve.routes_recs import router
from shelf.train.recs import train_bundle

from .conftest import cycle_sequences


def trained_artifact(root: Path) -> Path:
    """A small promoted SASRec bundle under ``root``; returns its version folder."""
    users, seqs = cycle_sequences(copies=2, length=5)
    rows = [(u, item, t) for u, s in zip(users, seqs, strict=True) for t, item in enumerate(s)]
    interactions = Interactions(
        user=[r[0] for r in rows],
        item=[r[1] for r in rows],
        timestamp=[1_700_000_000 + 60.0 * r[2] for r in rows],
        type=["purchase" if r[2] % 2 == 0 else "view" for r in rows],
        session=[f"{r[0]}-s" for r in rows],
    )
    data = sequences_from_interactions(interactions)
    version, promoted, metrics = train_bundle(
        data, root, model="sasrec", overrides={"dim": 16, "max_epochs": 3, "eval_every": 1}
    )
    assert promoted and "ndcg@10" in metrics
    path = artifacts.promoted(root, "recs")
    assert path == version
    return path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> RecommendService:
    path = trained_artifact(tmp_path_factory.mktemp("artifacts"))
    categories = {f"g{g}i{k}": ["Beauty", f"Group {g}"] for g in range(5) for k in range(5)}
    titles = {item: f"Item {item}" for item in categories}
    return RecommendService.from_artifact(path, titles=titles, categories=categories)


def test_fallback_chain(service: RecommendService) -> None:
    known = service.for_you("u0-0-0", 3)
    assert known.source == "personal" and len(known.items) == 3
    assert all(r.reason for r in known.items)
    cold = service.for_you("stranger", 3)
    assert cold.source == "trending" and cold.items[0].reason.startswith("trending")
    service.record_event("visitor", "g2i0")
    service.record_event("visitor", "g2i1")
    session = service.for_you("visitor", 3)
    assert session.source == "session"
    assert "g2i0" not in {r.item_id for r in session.items}


def test_events_change_the_next_answer(service: RecommendService) -> None:
    before = [r.item_id for r in service.for_you("walker", 5).items]
    service.record_event("walker", "g4i0")
    service.record_event("walker", "g4i1", "purchase")
    after = service.for_you("walker", 5)
    assert [r.item_id for r in after.items] != before
    assert "g4i1" not in {r.item_id for r in after.items}


def test_bought_excluded_unless_asked_and_exclude(service: RecommendService) -> None:
    bought = service.bought_items("u1-0-0")
    assert bought
    shown = {r.item_id for r in service.for_you("u1-0-0", 20).items}
    assert not shown & bought
    first = service.for_you("u1-0-0", 1).items[0].item_id
    again = service.for_you("u1-0-0", 5, exclude=[first])
    assert first not in {r.item_id for r in again.items}


def test_category_filter_and_trending(service: RecommendService) -> None:
    answer = service.for_you("u0-0-0", 5, category="Group 3")
    assert answer.items and all(r.item_id.startswith("g3") for r in answer.items)
    trend = service.trending(4, category="Group 1")
    assert trend.items and all(r.reason == "trending in Group 1" for r in trend.items)


def test_similar_and_bought_together(service: RecommendService) -> None:
    similar = service.similar("g0i0", 3)
    assert len(similar.items) == 3 and "g0i0" not in {r.item_id for r in similar.items}
    together = service.bought_together("g0i0", 3)
    assert together.source == "bought_together"
    assert all(r.reason == "often bought with Item g0i0" for r in together.items)


def test_deleted_items_are_left_out_of_every_list_until_posted_again(
    service: RecommendService,
) -> None:
    def every_list() -> set[str]:
        lists = [
            service.for_you("u0-0-0", 25),  # personal
            service.for_you("stranger", 25),  # trending
            service.trending(25),
            service.similar("g0i0", 24),
            service.bought_together("g0i0", 24),
        ]
        return {r.item_id for answer in lists for r in answer.items}

    shown = every_list()
    gone = sorted(shown - {"g0i0"})[:8]
    try:
        service.exclude_items(gone)
        assert not every_list() & set(gone)
        assert len(service.similar("g0i0", 5).items) == 5  # the lists are still full
        with pytest.raises(NotFoundError):
            service.similar(gone[0], 3)  # a deleted item has no page
        service.restore_items(gone[:1])
        assert gone[0] in every_list() and not every_list() & set(gone[1:])
    finally:
        service.restore_items(gone)
    assert service.excluded == frozenset()


def test_routes(service: RecommendService) -> None:
    app = FastAPI()
    app.state.engine = SimpleNamespace(
        recs=service,
        user_key=lambda user: user,
        live_user=lambda user: user,
        sync_items=lambda **_: 0,
        items_sync_due=lambda: False,
    )
    app.include_router(router)
    client = TestClient(app)
    body = client.get("/users/u0-0-0/recommendations", params={"n": 3}).json()
    assert body["source"] == "personal" and len(body["items"]) == 3
    assert all(item["reason"] for item in body["items"])
    excluded = body["items"][0]["item_id"]
    body = client.get("/users/u0-0-0/recommendations", params={"n": 3, "exclude": excluded}).json()
    assert excluded not in {i["item_id"] for i in body["items"]}
    assert client.get("/items/g0i0/similar").json()["source"] == "similar"
    assert client.get("/items/g0i0/bought-together").status_code == 200
    assert client.get("/trending", params={"n": 2}).json()["source"] == "trending"


def test_artifact_promotion_only_if_better(tmp_path: Path) -> None:
    first = artifacts.new_version(tmp_path, "m")
    artifacts.write_meta(first, {"metrics": {"ndcg@10": 0.05}})
    assert artifacts.promote(tmp_path, "m", first)
    worse = artifacts.new_version(tmp_path, "m")
    artifacts.write_meta(worse, {"metrics": {"ndcg@10": 0.04}})
    assert not artifacts.promote(tmp_path, "m", worse)
    assert artifacts.promoted(tmp_path, "m") == first
    better = artifacts.new_version(tmp_path, "m")
    artifacts.write_meta(better, {"metrics": {"ndcg@10": 0.05}})
    assert artifacts.promote(tmp_path, "m", better)
    assert artifacts.read_meta(better)["shelf_version"]
    assert np.isfinite(artifacts.read_meta(better)["created_at"])


def test_warm_up_builds_the_one_history_session_before_any_request(tmp_path: Path) -> None:
    from shelf.recommend.sasrec import SASRec

    fresh = RecommendService.from_artifact(trained_artifact(tmp_path))
    model = fresh.personal
    assert isinstance(model, SASRec)
    assert model._single is None and not model._single_tried  # loading builds nothing
    fresh.warm_up()
    assert model._single is not None  # the export a first request would have paid for
