"""Writers to one SQLite file take turns through shelf's writer lock (a ``flock`` that the
kernel hands over at once) rather than through SQLite's sleeping busy handler. Two stores on
one file stand for two processes: ``flock`` locks belong to open files, so they exclude each
other as two processes would."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shelf.errors import StoreError
from shelf.store.base import StoredEvent
from shelf.store.sql import open_store


def event(key: str) -> StoredEvent:
    return StoredEvent(
        dedup_key=key, user_key="u1", item_id="a", type="view", timestamp_ms=1_800_000_000_000
    )


def test_a_second_writer_waits_for_the_first_to_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shelf.db'}"
    first, second = open_store(url), open_store(url)
    try:
        order: list[str] = []
        inside = threading.Event()

        def write_slowly() -> None:
            with first.transaction() as conn:
                inside.set()
                # SQLite takes its own write lock only at the first write, below: without the
                # writer lock the other store would commit in the meantime
                time.sleep(0.3)
                first.add_events([event("k1")], conn=conn)
                order.append("first")

        writer = threading.Thread(target=write_slowly)
        writer.start()
        assert inside.wait(5)
        assert second.add_events([event("k2")]) == 1
        order.append("second")
        writer.join(5)
        assert order == ["first", "second"]
        assert [row[0] for row in second.events_after(0)] == [1, 2]  # k1 committed first
        assert (tmp_path / "shelf.db-writer.lock").exists()
    finally:
        first.close()
        second.close()


def test_writers_in_one_process_take_turns(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'shelf.db'}")
    try:
        done: list[int] = []

        def write(k: int) -> None:
            store.add_events([event(f"k{k}")])
            done.append(k)

        threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(done) == list(range(8))
        assert len(store.events_after(0)) == 8
    finally:
        store.close()


def test_a_writer_gives_up_after_its_wait_and_the_store_stays_usable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shelf.db'}"
    first, second = open_store(url), open_store(url)
    try:
        assert first._writer is not None and second._writer is not None
        with first._writer.held():  # a long import, say
            started = time.monotonic()
            with pytest.raises(StoreError, match="busy"), second._writer.held(wait_s=0.2):
                pass
            assert 0.2 <= time.monotonic() - started < 5
        assert second.add_events([event("k1")]) == 1  # free again
    finally:
        first.close()
        second.close()
