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
    """At most ``size`` entries (0: keeps nothing) and, with ``max_bytes``, at most that many
    bytes as the callers weigh their entries (``put(..., nbytes=)``); counts hits and misses.
    An entry heavier than ``max_bytes`` alone is not kept.

    To invalidate, replace the object (or key entries by a generation): a computation still
    running when the cache is replaced lands in the old one.
    """

    def __init__(self, size: int, *, max_bytes: int | None = None) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.nbytes = 0  # the weights of the entries held
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
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
            found = self._entries.pop(key, None)
            if found is None:
                return None
            self.nbytes -= found[1]
            return found[0]

    def items(self) -> Iterator[tuple[K, V]]:
        """A snapshot of the entries, least recently used first."""
        with self._lock:
            snapshot = [(key, value) for key, (value, _nbytes) in self._entries.items()]
        return iter(snapshot)

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: K, value: V, *, nbytes: int = 0) -> None:
        """Keep ``value`` under ``key``, weighing ``nbytes``; the least recently used entries
        go until the cache is within both of its bounds."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if self.max_bytes is not None and nbytes > self.max_bytes:
                return  # would empty the cache and still not fit
            self._entries[key] = (value, nbytes)
            self.nbytes += nbytes
            while len(self._entries) > self.size or (
                self.max_bytes is not None and self.nbytes > self.max_bytes
            ):
                _key, (_value, gone) = self._entries.popitem(last=False)
                self.nbytes -= gone

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        """The cached value, or ``compute(key)`` stored (computed outside the lock)."""
        found = self.get(key)
        if found is None:
            found = compute(key)
            self.put(key, found)
        return found
