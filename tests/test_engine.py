"""The engine end to end in-process: events change the next answer, new items are findable at
once, the personalisation hook, deleting a user, and /stats naming the serving models."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shelf.catalog import Event, Item
from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app

from .conftest import local_client

FAMILIES = ["drill", "paint", "hammer", "lamp"]


def _items() -> list[Item]:
    return [
        Item(item_id=f"{f}-{k}", title=f"{f.title()} model {k}", category=["Shop", f.title()])
        for f in FAMILIES
        for k in range(6)
    ]


def _events() -> list[Event]:
    events = []
    t = 1_700_000_000
    for u in range(60):
        family = FAMILIES[u % len(FAMILIES)]
        for step in range(5):
            t += 1
            events.append(
                Event(
                    user_id=f"user-{u}",
                    item_id=f"{family}-{(u + step) % 6}",
                    type="view",
                    timestamp=t,
                )
            )
    return events


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    from shelf.cli import train_from_store

    data_dir: Path = tmp_path_factory.mktemp("engine")
    engine = Engine(Settings(data_dir=data_dir))
    engine.add_items(_items())
    engine.add_events(_events())
    train_from_store(engine, max_epochs=30)  # enough for the toy cycles to be learnt
    engine.start_services()
    return engine


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return local_client(create_app(engine))


def test_an_event_changes_the_next_recommendation(client: TestClient) -> None:
    before = client.get("/users/newcomer/recommendations", params={"n": 5}).json()
    assert before["source"] in {"trending", "popular"}
    event = {"user_id": "newcomer", "item_id": "lamp-2", "type": "view", "timestamp": 1.8e9}
    assert client.post("/events", json={"events": [event]}).json()["stored"] == 1
    after = client.get("/users/newcomer/recommendations", params={"n": 5}).json()
    assert after["source"] == "session"
    ids = [i["item_id"] for i in after["items"]]
    assert ids != [i["item_id"] for i in before["items"]]
    assert "lamp-2" not in ids  # what the user just saw is not recommended back
    assert ids[0] == "lamp-3", ids  # every lamp shopper who saw lamp-2 saw lamp-3 next
    assert all(i["reason"] and i["title"] for i in after["items"])


def test_a_new_item_is_searchable_at_once(client: TestClient) -> None:
    before = client.get("/search", params={"q": "telescope"}).json()["items"]
    assert "scope-1" not in {hit["item_id"] for hit in before}
    new = {"item_id": "scope-1", "title": "Refracting telescope", "category": ["Shop", "Optics"]}
    assert client.post("/items", json={"items": [new]}).json()["upserted"] == 1
    hits = client.get("/search", params={"q": "telescope"}).json()["items"]
    assert hits[0]["item_id"] == "scope-1"


def test_personalisation_hook_is_a_no_op_without_history(engine: Engine) -> None:
    scores = np.array([3.0, 2.0, 1.0], dtype=np.float32)
    same = engine._personalize("nobody-at-all", ["drill-0", "paint-0", "lamp-0"], scores)
    assert np.array_equal(same, scores)


def test_personalisation_hook_lifts_items_linked_to_the_history(engine: Engine) -> None:
    ids = ["drill-0", "paint-0", "lamp-0"]
    scores = np.array([1.0, 1.0, 1.0], dtype=np.float32) + np.array([0.0, 0.01, 0.02])
    # user-3 viewed lamps (user u views family u % 4).
    lifted = engine._personalize("user-3", ids, scores)
    assert int(np.argmax(lifted)) == 2
    assert lifted[2] > scores[2]
    assert lifted[0] == pytest.approx(scores[0])


def test_deleting_a_user_forgets_live_state(client: TestClient, engine: Engine) -> None:
    event = {"user_id": "leaver", "item_id": "paint-1", "type": "view", "timestamp": 1.8e9}
    client.post("/events", json={"events": [event]})
    assert client.get("/users/leaver/recommendations").json()["source"] == "session"
    assert client.delete("/users/leaver").json()["events_deleted"] == 1
    assert client.get("/users/leaver/recommendations").json()["source"] in {"trending", "popular"}
    assert engine.store.user_events(engine.user_key("leaver")) == []


def test_stats_name_the_serving_models(client: TestClient) -> None:
    stats = client.get("/stats").json()["stats"]
    assert stats["search"]["items"] >= 24
    recs = stats["recommendations"]
    assert recs["version"] and recs["model"] == "sasrec+cooc"
    assert 0.0 <= recs["metrics"]["ndcg@10"] <= 1.0
    metrics = client.get("/metrics").text
    assert (
        f'shelf_model_info{{service="recommendations",version="{recs["version"]}"}} 1.0' in metrics
    )


def test_hot_swap_to_a_newly_promoted_model_keeps_live_events(
    client: TestClient, engine: Engine
) -> None:
    from shelf.cli import train_from_store

    old = engine.recs
    assert old is not None
    assert engine.reload_recs() is False  # nothing new promoted yet
    train_from_store(engine, max_epochs=1, force=True)
    # An event that arrives after training, before the swap: only the live state has it.
    event = {"user_id": "late-user", "item_id": "drill-3", "type": "view", "timestamp": 1.9e9}
    client.post("/events", json={"events": [event]})
    assert engine.reload_recs() is True
    assert engine.recs is not old and engine.recs is not None
    assert engine.recs.version != old.version
    answer = client.get("/users/late-user/recommendations").json()
    assert answer["source"] == "session"  # the live event survived the swap
    assert answer["model_version"] == engine.recs.version


def test_a_new_item_is_recommendable_at_once_with_the_text_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from shelf.cli import train_from_store

    engine = Engine(Settings(data_dir=tmp_path_factory.mktemp("text-engine")))
    engine.add_items(_items())
    engine.add_events(_events())
    train_from_store(engine, model="sasrec-text+cooc+textknn", max_epochs=2)
    engine.start_services()
    client = local_client(create_app(engine))
    assert client.get("/items/drill-new/similar").status_code == 404
    new = {"item_id": "drill-new", "title": "Drill model 9", "category": ["Shop", "Drill"]}
    client.post("/items", json={"items": [new]})
    similar = client.get("/items/drill-new/similar", params={"n": 5}).json()["items"]
    assert similar and sum(s["item_id"].startswith("drill-") for s in similar) >= 3, similar
    event = {"user_id": "fan", "item_id": "drill-1", "type": "view", "timestamp": 1.8e9}
    client.post("/events", json={"events": [event]})
    mine = client.get("/users/fan/recommendations", params={"n": 24}).json()["items"]
    assert "drill-new" in {i["item_id"] for i in mine}


@contextmanager
def two_workers(engine: Engine) -> Iterator[tuple[TestClient, TestClient, Engine]]:
    """A second serving process over the engine's store (its own indexes and models), as
    with `shelf serve --workers 2`: (client of the first, client of the second, second)."""
    other = Engine(engine.settings)
    other.start_services()
    try:
        yield local_client(create_app(engine)), local_client(create_app(other)), other
    finally:
        other.close()


def test_two_workers_share_events_items_and_deletions(engine: Engine) -> None:
    """Two serving processes over one SQLite store (as with `shelf serve --workers 2`): what
    is posted to one shapes the other's next answer."""
    with two_workers(engine) as (first, second, other):
        assert second.get("/users/roamer/recommendations").json()["source"] != "session"
        event = {"user_id": "roamer", "item_id": "hammer-2", "type": "view", "timestamp": 1.85e9}
        assert first.post("/events", json={"events": [event]}).json()["stored"] == 1
        answer = second.get("/users/roamer/recommendations", params={"n": 5}).json()
        assert answer["source"] == "session"
        assert sum(i["item_id"].startswith("hammer-") for i in answer["items"]) >= 3

        # a duplicate post is stored once and applied once, on both workers
        assert first.post("/events", json={"events": [event]}).json()["duplicates"] == 1
        assert other.sync_live() == 0 and engine.sync_live() == 0

        new = {"item_id": "kaleidoscope-1", "title": "Brass kaleidoscope", "category": ["Toys"]}
        first.post("/items", json={"items": [new]})
        assert other.sync_items(force=True) == 1
        hits = second.get("/search", params={"q": "kaleidoscope"}).json()["items"]
        assert [h["item_id"] for h in hits][:1] == ["kaleidoscope-1"]

        assert first.delete("/users/roamer").json()["events_deleted"] == 1
        after = second.get("/users/roamer/recommendations").json()
        assert after["source"] in {"trending", "popular"}


def test_items_from_another_worker_are_indexed_off_the_event_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async routes hand the catalog look (and the encoding of new items) to the thread
    pool once it is due, and compute inline otherwise."""
    with two_workers(engine) as (first, second, other):
        where: list[str] = []
        real = other.sync_items

        def watched(**kwargs: bool) -> int:
            try:
                asyncio.get_running_loop()
                where.append("event loop")
            except RuntimeError:
                where.append("thread")
            return real(**kwargs)

        monkeypatch.setattr(other, "sync_items", watched)
        new = {"item_id": "zoetrope-1", "title": "Tin zoetrope", "category": ["Toys"]}
        assert first.post("/items", json={"items": [new]}).status_code == 200
        deadline = time.monotonic() + 5
        while not other.items_sync_due():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        hits = second.get("/search", params={"q": "zoetrope"}).json()["items"]
        assert [h["item_id"] for h in hits][:1] == ["zoetrope-1"]
        assert where == ["thread"]
        monkeypatch.setattr(other, "items_sync_due", lambda: False)  # a look made just now
        assert second.get("/search", params={"q": "tin zoetrope"}).status_code == 200
        assert where == ["thread"]  # no second look: the request computed inline


def test_a_quiet_store_costs_no_tailing_queries(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"events_after": 0, "has_user": 0}
    for name in calls:
        real = getattr(engine.store, name)

        def counted(
            *args: object, _real: object = real, _name: str = name, **kwargs: object
        ) -> object:
            calls[_name] += 1
            return _real(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(engine.store, name, counted)
    engine.live_user("user-3")
    before = dict(calls)
    for _ in range(3):
        engine.live_user("user-3")
    assert calls == before  # nothing committed since: no query
    engine.add_events([Event(user_id="user-3", item_id="paint-1", type="view", timestamp=1.9e9)])
    engine.live_user("user-3")
    assert calls["events_after"] > before["events_after"]
    assert calls["has_user"] == before["has_user"] + 1


def test_a_deletion_elsewhere_is_seen_after_other_users_requests(engine: Engine) -> None:
    with two_workers(engine) as (first, second, _other):
        event = {"user_id": "visitor", "item_id": "lamp-2", "type": "view", "timestamp": 1.86e9}
        assert first.post("/events", json={"events": [event]}).json()["stored"] == 1
        for _ in range(2):  # the second answer comes from what the worker remembers
            assert second.get("/users/visitor/recommendations").json()["source"] == "session"
        assert first.delete("/users/visitor").json()["events_deleted"] == 1
        second.get("/users/user-7/recommendations")  # another user's request sees the change
        after = second.get("/users/visitor/recommendations").json()
        assert after["source"] in {"trending", "popular"}


def _found(client: TestClient, item_id: str) -> dict[str, bool]:
    """Where ``item_id`` shows up for a worker's client: search, browsing, recommendations."""
    hits = client.get("/search", params={"q": "paint model 5", "page_size": 100}).json()
    browse = client.get("/search", params={"q": "", "page_size": 100}).json()
    lists = [
        client.get("/users/user-0/recommendations", params={"n": 30}).json(),
        client.get("/users/a-stranger/recommendations", params={"n": 30}).json(),
        client.get("/items/paint-0/similar", params={"n": 30}).json(),
        client.get("/trending", params={"n": 30}).json(),
    ]
    return {
        "search": item_id in {h["item_id"] for h in hits["items"]},
        "browse": item_id in {h["item_id"] for h in browse["items"]},
        "recs": item_id in {i["item_id"] for answer in lists for i in answer["items"]},
        "page": client.get(f"/items/{item_id}/similar").status_code == 200,
    }


def test_a_deletion_reaches_every_worker_and_a_post_brings_the_item_back(engine: Engine) -> None:
    """Two serving processes over one SQLite store: an item deleted through one is no longer
    found through either (search, browsing, recommendations), nor by a worker started later,
    until it is posted again."""
    everywhere = {"search": True, "browse": True, "recs": True, "page": True}
    nowhere = dict.fromkeys(everywhere, False)
    victim = engine.get_item("paint-5").model_dump(mode="json")
    with two_workers(engine) as (first, second, other):
        assert _found(first, "paint-5") == _found(second, "paint-5") == everywhere
        assert first.delete("/items/paint-5").json() == {"ok": True, "item_id": "paint-5"}
        assert _found(first, "paint-5") == nowhere  # at once where it was deleted
        assert other.sync_items(force=True) == 0
        assert _found(second, "paint-5") == nowhere  # and at the other's next look
    with two_workers(engine) as (_first, late, _other):  # started after the deletion
        assert _found(late, "paint-5") == nowhere
        assert first.post("/items", json={"items": [victim]}).json()["upserted"] == 1
        assert _other.sync_items(force=True) == 1  # indexed again, in a new row
        assert _found(first, "paint-5") == _found(late, "paint-5") == everywhere


def test_encoding_new_items_holds_no_lock_that_reads_wait_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a post's new items are being encoded (slow here: the encoder waits for the
    test), a search and a recommendation, each of which looks at the store and finds those
    items, are answered: only the final insertion into the indexes takes a lock."""
    search = engine.search
    assert search is not None
    encoding, release = threading.Event(), threading.Event()
    real_encode = search.index.encode

    def slow_encode(items: object, progress: object) -> object:
        encoding.set()
        assert release.wait(60)
        return real_encode(items, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(search.index, "encode", slow_encode)
    monkeypatch.setattr(engine.tail, "items_due", lambda: True)  # every read looks
    client = local_client(create_app(engine))
    new = [{"item_id": f"orrery-{k}", "title": f"Brass orrery {k}"} for k in range(40)]
    posted: list[int] = []
    poster = threading.Thread(
        target=lambda: posted.append(client.post("/items", json={"items": new}).status_code)
    )
    answered: dict[str, int] = {}

    def read() -> None:
        answered["search"] = client.get("/search", params={"q": "hammer"}).status_code
        answered["recs"] = client.get("/users/user-3/recommendations").status_code

    reader = threading.Thread(target=read)
    poster.start()
    try:
        assert encoding.wait(60)  # the post stored its items and is encoding them
        reader.start()
        reader.join(60)  # a deadlock guard, not a speed: the reads need no lock held
        assert not reader.is_alive(), "a read waited for the encoding"
        assert answered == {"search": 200, "recs": 200} and not posted
    finally:
        release.set()
        poster.join(60)
    assert posted == [200]
    hits = client.get("/search", params={"q": "brass orrery 7"}).json()["items"]
    assert hits and hits[0]["item_id"] == "orrery-7"


def test_a_trained_search_ranker_is_served_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelf.search.features import FEATURE_NAMES
    from shelf.search.rank import LambdaMARTRanker

    monkeypatch.setenv("SHELF_MODEL_CACHE", str(tmp_path / "models"))
    rng = np.random.default_rng(0)
    x = rng.random((200, len(FEATURE_NAMES))).astype(np.float32)
    labels = np.digitize(x[:, FEATURE_NAMES.index("lex_score")], [0.5]) * 3
    ranker = LambdaMARTRanker(n_estimators=5, min_child_samples=5).fit(x, labels, np.full(20, 10))
    settings = Settings(data_dir=tmp_path / "data")
    ranker.save(settings.index_dir / "ranker")  # what `shelf search-train` writes
    engine = Engine(settings)
    try:
        engine.add_items(_items())
        engine.start_services(recs=False)
        stats = engine.stats()["search"]
        assert stats["ranker"] == "LambdaMARTRanker" and stats["ranker_compiled"]
        assert list((tmp_path / "models").glob("lambdamart-*.so"))
        hits = local_client(create_app(engine)).get("/search", params={"q": "hammer"}).json()
        assert hits["ranker"] == "lambdamart" and hits["items"]
    finally:
        engine.close()
