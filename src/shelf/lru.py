"""A bounded, thread-safe least-recently-used map, shared by the caches that serve requests
(query vectors, search responses) and the recommendation service's live per-user state."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``size`` entries (0: keeps nothing); counts hits and misses.

    To invalidate, replace the object (or key entries by a generation): a computation still
    running when the cache is replaced lands in the old one.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is held (not a use: its recency does not change)."""
        with self._lock:
            return key in self._entries

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None when absent."""
        with self._lock:
            return self._entries.pop(key, None)

    def items(self) -> Iterator[tuple[K, V]]:
        """A snapshot of the entries, least recently used first."""
        with self._lock:
            snapshot = list(self._entries.items())
        return iter(snapshot)

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        """The cached value, or ``compute(key)`` stored (computed outside the lock)."""
        found = self.get(key)
        if found is None:
            found = compute(key)
            self.put(key, found)
        return found
