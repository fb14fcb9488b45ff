"""Event batches posted at the same time share a commit (``GroupCommit``), each still all or
none and acknowledged only once committed; on both store backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from shelf.catalog import Event, Item, parse_event
from shelf.errors import StoreError, ValidationError
from shelf.ingest import Pseudonymizer
from shelf.ingest.importer import GroupCommit
from shelf.store import SQLStore


@pytest.fixture
def writer(store: SQLStore, tmp_path: Path) -> GroupCommit:
    store.upsert_items([Item(item_id="a", title="A"), Item(item_id="b", title="B")])
    return GroupCommit(store, Pseudonymizer.from_key_file(tmp_path / "key"))


def view(user: str, item: str, t: int) -> Event:
    return parse_event({"user_id": user, "item_id": item, "type": "view", "timestamp": t})


def slow_transactions(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each commit takes 0.2 s more, so batches posted meanwhile queue up behind it."""
    real = store.transaction

    @contextmanager
    def slow() -> Iterator[Connection]:
        with real() as conn:
            yield conn
            time.sleep(0.2)

    monkeypatch.setattr(store, "transaction", slow)


def post_together(writer: GroupCommit, batches: list[list[Event]]) -> list[object]:
    """Each batch from its own thread, all at once; each thread's result or exception."""
    out: list[object] = [None] * len(batches)
    start = threading.Barrier(len(batches))

    def post(k: int) -> None:
        start.wait()
        try:
            out[k] = writer.store_events(batches[k])
        except Exception as exc:  # the test inspects it
            out[k] = exc

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_batches_share_commits_and_each_gets_its_own_counts(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_transactions(store, monkeypatch)
    batches = [[view(f"u{k}", "a", 1), view(f"u{k}", "b", 2)] for k in range(8)]
    batches.append([view("u0", "a", 1), view("u9", "a", 3)])  # one duplicate of batch 0
    results = post_together(writer, batches)
    assert results[1:8] == [(2, 0)] * 7
    # batches 0 and 8 share one event: whichever is stored second counts it as a duplicate
    assert sorted([results[0], results[8]]) == [(1, 1), (2, 0)]  # type: ignore[type-var]
    assert sum(r[0] for r in results) == 17  # type: ignore[index]
    assert store.counts()["events"] == 17
    assert writer.commits < len(batches)  # some batches shared a commit
    # the writer is free again: a lone batch commits on its own
    assert writer.store_events([view("u10", "b", 4)]) == (1, 0)


def test_a_bad_batch_is_refused_alone(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_transactions(store, monkeypatch)
    batches = [[view(f"u{k}", "a", 1)] for k in range(4)]
    batches.insert(2, [view("u9", "a", 1), view("u9", "ghost", 2)])
    results = post_together(writer, batches)
    bad = results[2]
    assert isinstance(bad, ValidationError) and (bad.row, bad.field) == (2, "item_id")
    assert [r for k, r in enumerate(results) if k != 2] == [(1, 0)] * 4
    assert store.counts()["events"] == 4  # nothing of the bad batch


def test_a_failed_commit_fails_every_batch_in_it_and_stores_none(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store.add_events
    calls = {"n": 0}

    def failing(events: object, conn: object = None) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreError("disk full")
        return real(events, conn)  # type: ignore[arg-type]

    slow_transactions(store, monkeypatch)
    monkeypatch.setattr(store, "add_events", failing)
    # the first batch commits alone (it leads at once); the rest wait and form one group,
    # whose first insert is the store's second call: it fails, and the group rolls back
    results = post_together(writer, [[view(f"u{k}", "a", 1)] for k in range(5)])
    failed = [r for r in results if isinstance(r, StoreError)]
    stored = [r for r in results if r == (1, 0)]
    assert len(failed) + len(stored) == 5 and failed
    assert store.counts()["events"] == len(stored)
    assert writer.store_events([view("late", "b", 9)]) == (1, 0)  # leadership was handed back
