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
from shelf.ingest.group_commit import GroupCommit
from shelf.store import SQLStore
from shelf.store.base import StoredEvent


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


@contextmanager
def queued_behind_a_commit(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch, waiting: int
) -> Iterator[threading.Thread]:
    """A lone batch's transaction held open until ``waiting`` more batches queue behind it
    (they then form one group); no sleeps."""
    real = store.transaction
    inside, release = threading.Event(), threading.Event()

    @contextmanager
    def gated() -> Iterator[Connection]:
        with real() as conn:
            yield conn
            if not inside.is_set():
                inside.set()
                assert release.wait(30)

    monkeypatch.setattr(store, "transaction", gated)
    first = threading.Thread(target=writer.store_events, args=([view("lead", "a", 1)],))
    first.start()
    assert inside.wait(30)
    yield first

    def queued() -> bool:
        with writer._lock:
            return len(writer._waiting) >= waiting

    deadline = time.monotonic() + 30
    while not queued():  # the batches are posted from threads started in the block
        assert time.monotonic() < deadline, "the batches did not queue"
        time.sleep(0.001)
    release.set()
    first.join(30)


def post_in_threads(
    writer: GroupCommit, batches: list[list[Event]]
) -> tuple[list[object], list[threading.Thread]]:
    out: list[object] = [None] * len(batches)

    def post(k: int) -> None:
        try:
            out[k] = writer.store_events(batches[k])
        except Exception as exc:  # the test inspects it
            out[k] = exc

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    return out, threads


def test_one_bad_batch_in_a_shared_commit_fails_alone(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the database itself refuses (here: it leaves the transaction broken, as an
    over-long value would in PostgreSQL) fails; the batches committed with it do not."""
    real = store.add_events
    poison = writer.pseudonymizer.pseudonym("poison")

    def add_events(events: list[StoredEvent], conn: Connection | None = None) -> int:
        stored = real(events, conn)
        if any(e.user_key == poison for e in events):
            assert conn is not None
            conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")  # a real failure
        return stored

    monkeypatch.setattr(store, "add_events", add_events)
    batches = [[view(f"u{k}", "a", 1), view(f"u{k}", "b", 2)] for k in range(4)]
    batches.insert(2, [view("poison", "a", 1)])
    with queued_behind_a_commit(writer, store, monkeypatch, waiting=len(batches)):
        results, threads = post_in_threads(writer, batches)
    for t in threads:
        t.join(30)
    assert isinstance(results[2], StoreError)
    assert "INSERT" not in str(results[2])  # the statement stays in its cause
    assert [r for k, r in enumerate(results) if k != 2] == [(2, 0)] * 4
    assert writer.retries == 1  # they had shared a commit that failed, and were retried
    assert store.counts()["events"] == 1 + 8  # the leader's and the four good batches'
    assert store.user_events(poison) == []


def test_a_failure_before_any_batch_is_written_fails_the_group_once(
    writer: GroupCommit, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store failing as the group begins (busy, unreachable) would fail each batch
    alike: the group fails at once, with no retries, and the writer goes on."""
    real = store.existing_item_ids
    calls = {"n": 0}

    def failing(item_ids: object, conn: object = None) -> set[str]:
        calls["n"] += 1
        if calls["n"] == 2:  # the group's look-up, after the leader's
            raise StoreError("the store is busy")
        return real(item_ids, conn)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "existing_item_ids", failing)
    batches = [[view(f"u{k}", "a", 1)] for k in range(3)]
    with queued_behind_a_commit(writer, store, monkeypatch, waiting=len(batches)):
        results, threads = post_in_threads(writer, batches)
    for t in threads:
        t.join(30)
    assert all(isinstance(r, StoreError) for r in results), results
    assert writer.retries == 0 and store.counts()["events"] == 1
    assert writer.store_events([view("late", "b", 9)]) == (1, 0)  # leadership was handed back
