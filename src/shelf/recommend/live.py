"""Shoppers' events since the models were trained, held in memory so that the next answer
reflects them: at most :data:`MAX_LIVE_USERS` shoppers (the least recently active go first),
each with at most :data:`MAX_LIVE` events."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shelf.lru import LRU

MAX_LIVE = 200  # live events kept per user
MAX_LIVE_USERS = 100_000  # users with live state held in memory
IGNORED = frozenset({"search", "remove_from_cart"})  # events that are not interest in an item


@dataclass
class _Live:
    history: list[str] = field(default_factory=list)
    bought: set[str] = field(default_factory=set)


class LiveState:
    """Each shopper's recent items and purchases, thread-safe."""

    def __init__(self) -> None:
        self._users: LRU[str, _Live] = LRU(MAX_LIVE_USERS)
        self._lock = threading.Lock()

    def __contains__(self, user: object) -> bool:
        with self._lock:
            return user in self._users

    def record(self, user: str, item: str, event_type: str) -> None:
        if event_type in IGNORED:
            return
        with self._lock:
            live = self._users.get_or_compute(user, lambda _: _Live())
            live.history.append(item)
            del live.history[:-MAX_LIVE]
            if event_type == "purchase":
                live.bought.add(item)

    def history(self, user: str) -> list[str]:
        live = self._users.get(user)
        return list(live.history) if live else []

    def bought(self, user: str) -> set[str]:
        live = self._users.get(user)
        return set(live.bought) if live else set()

    def forget(self, user: str) -> None:
        with self._lock:
            self._users.pop(user)

    def take_over(self, previous: LiveState) -> None:
        """Copy another state's shoppers in, least recently active first (a hot swap)."""
        with previous._lock:
            copied = [
                (k, _Live(list(v.history), set(v.bought))) for k, v in previous._users.items()
            ]
        with self._lock:
            for key, state in copied:
                self._users.put(key, state)
