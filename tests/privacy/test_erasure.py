"""Erasure that reaches everything, on SQLite and PostgreSQL: the store, a tombstone against
re-entry, the served counts models (exactly), the rejects files, and by the deadline the
trained models and every older artifact version (with a clock the test controls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shelf import artifacts
from shelf.catalog import Event, Item
from shelf.config import Settings
from shelf.engine import Engine
from shelf.ingest import import_events
from shelf.privacy.erasure import (
    HOUR_MS,
    complete_due,
    retrain_from_store,
    versions_holding,
)
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.train.recs import training_data_from_store

FAMILIES = ["drill", "paint", "lamp"]
ERASED = "alice@example.com"  # a raw id, as a shop knows its shopper


def _events() -> list[Event]:
    out = []
    t = 1_700_000_000
    for u in range(24):
        family = FAMILIES[u % 3]
        for step in range(4):
            t += 60
            kind = "purchase" if step == 3 else "view"
            out.append(Event(user_id=f"u{u}", item_id=f"{family}-{(u + step) % 5}", type=kind,
                             timestamp=t, session_id=f"u{u}-s"))  # fmt: skip
    for step, item in enumerate(["drill-0", "lamp-4", "paint-2", "drill-3"]):
        out.append(Event(user_id=ERASED, item_id=item, type="purchase" if step % 2 else "view",
                         timestamp=t + 600 + step, session_id="alice-s"))  # fmt: skip
    return out


@pytest.fixture
def engine(store_url: str, tmp_path: Path) -> Iterator[Engine]:
    from shelf.cli import train_from_store

    settings = Settings(data_dir=tmp_path / "data", db_url=store_url, erasure_retrain_hours=24)
    opened = Engine(settings)
    opened.add_items(
        [Item(item_id=f"{f}-{k}", title=f"{f} {k}") for f in FAMILIES for k in range(5)]
    )
    opened.add_events(_events())
    train_from_store(opened, model="sasrec+cooc", max_epochs=1)
    opened.start_services(search=False)
    yield opened
    opened.close()


def pairs(model: ItemCooccurrence, matrix_name: str) -> dict[tuple[str, str], float]:
    """A co-occurrence matrix keyed by item ids (vocabularies may be ordered differently)."""
    matrix = getattr(model, matrix_name).tocoo()
    items = model.items_
    return {(items[r], items[c]): float(v) for r, c, v in zip(matrix.row, matrix.col,
                                                             matrix.data, strict=True)}  # fmt: skip


def test_erasure_reaches_store_models_rejects_and_artifacts(engine: Engine, tmp_path: Path) -> None:
    key = engine.user_key(ERASED)
    recs = engine.recs
    assert recs is not None and key in recs.personal.user_index_
    rejects = engine.settings.data_dir / "rejects" / "old-import.jsonl"
    rejects.parent.mkdir(parents=True)
    rejects.write_text(
        json.dumps({"row": 3, "field": "item_id", "reason": "unknown", "record": {"user_id": key}})
        + "\n"
        + json.dumps({"row": 4, "field": "item_id", "reason": "x", "record": {"user_id": "other"}})
        + "\n"
    )
    first_version = artifacts.promoted(engine.settings.artifacts_dir, "recs")
    assert first_version is not None
    assert versions_holding(engine.settings.artifacts_dir, [key]) == [first_version]

    assert engine.delete_user(ERASED) == 4

    # the store and its tombstone
    assert not engine.store.has_user(key)
    assert [e.user_key for e in engine.store.access.erasures(pending_only=True)] == [key]
    again = engine.add_events([Event(user_id=ERASED, item_id="drill-1", type="view", timestamp=5)])
    assert (again.stored, again.duplicates, again.erased) == (0, 0, 1)
    assert not engine.store.has_user(key) and engine.store.user_events(key) == []
    events_file = tmp_path / "replay.csv"
    events_file.write_text(f"user_id,item_id,type,timestamp\n{ERASED},drill-2,view,7\n")
    import_events(engine.store, engine.pseudonymizer, events_file)
    assert engine.store.user_events(key) == []
    # the served models: no personal answer, and co-occurrence exactly as if fitted without
    answer = recs.for_you(key, 5)
    assert answer.source not in ("personal", "session")
    data, _texts, _fp = training_data_from_store(engine.store.url)
    refit = ItemCooccurrence().fit(data)
    for name in ("similar_", "together_"):
        assert pairs(recs.cooc, name) == pairs(refit, name), name
    popular = dict(zip(recs.trending_model.items_, recs.trending_model.item_counts_, strict=True))
    refit_counts = dict(zip(refit.items_, refit.item_counts_, strict=True))
    assert {k: v for k, v in popular.items() if v} == {k: v for k, v in refit_counts.items() if v}
    # the rejects file keeps only other users' rows
    rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["record"]["user_id"] for r in rows] == ["other"]
    assert (rejects.stat().st_mode & 0o777) == 0o600


def test_trained_models_are_rebuilt_by_the_deadline(engine: Engine) -> None:
    key = engine.user_key(ERASED)
    settings = engine.settings
    root = settings.artifacts_dir
    old = artifacts.promoted(root, "recs")
    assert old is not None
    # make the old version look better than anything a retrain can reach: the erasure's
    # retrain is promoted anyway
    meta = artifacts.read_meta(old)
    meta["metrics"]["ndcg@10"] = 0.99
    artifacts.write_meta(old, meta)
    engine.delete_user(ERASED)
    (erasure,) = engine.store.access.erasures()
    asked = erasure.requested_ms
    assert erasure.retrain_by_ms == asked + 24 * HOUR_MS

    def retrain() -> Path:
        return retrain_from_store(settings)

    early = complete_due(settings, engine.store, now_ms=asked + 3 * HOUR_MS, retrain=retrain)
    assert early == [] and artifacts.promoted(root, "recs") == old  # not due yet
    # a server starts the run a quarter of the deadline ahead
    margin = 6 * HOUR_MS
    done = complete_due(
        settings, engine.store, now_ms=asked + 18 * HOUR_MS, retrain=retrain, margin_ms=margin
    )
    assert done == [key]
    new = artifacts.promoted(root, "recs")
    assert new is not None and new != old
    assert artifacts.read_meta(new)["metrics"]["ndcg@10"] < 0.99  # promoted though worse
    assert not old.exists()  # the version that held the user is gone
    assert versions_holding(root, [key]) == []
    (finished,) = engine.store.access.erasures()
    assert finished.completed_ms == asked + 18 * HOUR_MS
    assert finished.detail["retrained_version"] == new.name
    assert finished.detail["artifact_versions_deleted"] == [old.name]
    # the server swaps to the new version, which never saw the user
    assert engine.reload_recs()
    assert engine.recs is not None and key not in engine.recs.personal.user_index_


def test_an_erasure_with_no_trained_model_holding_the_user_completes_at_once(
    store_url: str, tmp_path: Path
) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "fresh", db_url=store_url))
    try:
        engine.add_items([Item(item_id="x", title="x")])
        engine.add_events([Event(user_id="bob", item_id="x", type="view", timestamp=1)])
        engine.delete_user("bob")
        (erasure,) = engine.store.access.erasures()
        assert erasure.completed_ms is not None and erasure.detail["events_deleted"] == 1
    finally:
        engine.close()


def test_sqlite_overwrites_deleted_rows_and_truncates_its_wal(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "s"))
    try:
        engine.add_items([Item(item_id="x", title="x")])
        engine.add_events(
            [Event(user_id="carol", item_id="x", type="view", timestamp=k) for k in range(50)]
        )
        with engine.store.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        stored = engine.store.user_events(engine.user_key("carol"))
        assert len(stored) == 50
        engine.delete_user("carol")
        wal = tmp_path / "s" / "shelf.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0
        raw = (tmp_path / "s" / "shelf.db").read_bytes()
        left = [e.dedup_key for e in stored if e.dedup_key.encode() in raw]
        assert left == [], f"{len(left)} deleted events still readable in the database file"
    finally:
        engine.close()


def test_rejects_files_hold_pseudonyms_privately(sqlite_store: object, tmp_path: Path) -> None:
    from shelf.ingest import Pseudonymizer

    store = sqlite_store
    store.upsert_items([Item(item_id="x", title="x")])  # type: ignore[attr-defined]
    pseudonyms = Pseudonymizer.from_key_file(tmp_path / "k.key")
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,type,timestamp\n"
        "dave@example.com,x,view,1\n"
        "dave@example.com,nope,view,2\n"  # unknown item: rejected
    )
    rejects = tmp_path / "rejects" / "events.jsonl"
    report = import_events(
        store,  # type: ignore[arg-type]
        pseudonyms,
        events,
        skip_invalid=True,
        rejects_path=rejects,
    )
    assert report.invalid == 1
    text = rejects.read_text()
    assert "dave@example.com" not in text
    assert json.loads(text)["record"]["user_id"] == pseudonyms.pseudonym("dave@example.com")
    assert (rejects.stat().st_mode & 0o777) == 0o600


def test_an_erasure_reaches_the_other_serving_workers(engine: Engine) -> None:
    if not engine.store.tails_by_id:
        pytest.skip("workers share a store by tailing it on SQLite only")
    other = Engine(engine.settings)  # a second worker over the same store
    try:
        other.start_services(search=False)
        key = other.user_key(ERASED)
        assert other.recs is not None and key in other.recs.personal.user_index_
        engine.delete_user(ERASED)
        other.sync_items(force=True)
        assert key not in other.recs.personal.user_index_
        assert other.recs.cooc.item_counts_.sum() == engine.recs.cooc.item_counts_.sum()  # type: ignore[union-attr]
    finally:
        other.close()
