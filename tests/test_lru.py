"""The bounded LRU behind the query-vector and search-response caches."""

from __future__ import annotations

import os
import time
from pathlib import Path

from shelf.artifacts import keep_newest
from shelf.lru import LRU


def test_least_recently_used_goes_first_and_hits_are_counted() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)


def test_compute_once_and_size_zero_keeps_nothing() -> None:
    calls: list[str] = []

    def compute(key: str) -> int:
        calls.append(key)
        return len(key)

    cache: LRU[str, int] = LRU(4)
    assert cache.get_or_compute("abc", compute) == 3
    assert cache.get_or_compute("abc", compute) == 3
    assert calls == ["abc"]
    off: LRU[str, int] = LRU(0)
    off.put("a", 1)
    assert off.get("a") is None and len(off) == 0


def test_a_byte_bound_evicts_by_weight() -> None:
    cache: LRU[str, str] = LRU(100, max_bytes=10)
    cache.put("a", "x", nbytes=4)
    cache.put("b", "x", nbytes=4)
    assert cache.get("a") == "x"  # "b" is now the least recently used
    cache.put("c", "x", nbytes=4)  # 12 bytes: "b" goes
    assert cache.get("b") is None and (len(cache), cache.nbytes) == (2, 8)
    cache.put("a", "y", nbytes=2)  # replacing an entry replaces its weight
    assert cache.nbytes == 6 and cache.get("a") == "y"
    cache.put("huge", "x", nbytes=11)  # heavier than the whole bound: not kept, none evicted
    assert cache.get("huge") is None and (len(cache), cache.nbytes) == (2, 6)
    cache.put("d", "x", nbytes=10)  # fits only alone
    assert list(cache._entries) == ["d"] and cache.nbytes == 10


def test_keep_newest_deletes_the_oldest_files(tmp_path: Path) -> None:
    for k in range(4):
        path = tmp_path / f"hnsw-{k}.faiss"
        path.write_text("x")
        stamp = time.time() - 100 + k
        os.utime(path, (stamp, stamp))
    (tmp_path / "other.txt").write_text("not matched")
    deleted = keep_newest(tmp_path, "hnsw-*.faiss", 2)
    assert sorted(p.name for p in deleted) == ["hnsw-0.faiss", "hnsw-1.faiss"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hnsw-2.faiss",
        "hnsw-3.faiss",
        "other.txt",
    ]
    assert keep_newest(tmp_path, "hnsw-*.faiss", 5) == []


def test_pop_contains_and_items_leave_the_order_alone() -> None:
    cache: LRU[str, int] = LRU(3)
    for k, key in enumerate("abc"):
        cache.put(key, k)
    assert "a" in cache and "z" not in cache  # a look, not a use: "a" stays the oldest
    assert [k for k, _ in cache.items()] == ["a", "b", "c"]
    assert cache.pop("b") == 1 and cache.pop("b") is None and len(cache) == 2
    cache.put("d", 3)
    cache.put("e", 4)
    assert [k for k, _ in cache.items()] == ["c", "d", "e"]
