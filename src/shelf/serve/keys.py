"""API keys: minted once, stored only as a SHA-256, checked in constant time, and seen by
every serving process within a second of being created or revoked (:class:`KeyRing` reloads
the store's key table at most every ``RELOAD_S``).

A key reads ``shelf_<scope>_<id>_<secret>``: the scope and an 8-character id form its prefix
(stored and listed, not secret), the secret is 32 random bytes. Scopes nest: an ``admin`` key
can do what an ``ingest`` key can, which can do what a ``search`` key can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from enum import IntEnum

from shelf.store import Store
from shelf.store.access import StoredKey

RELOAD_S = 0.5  # how stale a process's view of the key table may be


class Scope(IntEnum):
    """What a key may do; a higher scope includes the lower ones."""

    SEARCH = 1  # safe to embed in a shop's pages: reads, search, shopper events
    INGEST = 2  # catalog and event writes in bulk, item deletes
    ADMIN = 3  # everything: keys, erasure, stats, metrics, docs

    @classmethod
    def named(cls, name: str) -> Scope:
        try:
            return cls[name.upper()]
        except KeyError:
            known = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown scope {name!r}; one of {known}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mint(
    name: str, scope: Scope, *, now_ms: int, expires_days: float | None = None
) -> tuple[str, StoredKey]:
    """A new key (shown once) and the record the store keeps of it."""
    key_id = base64.b32encode(secrets.token_bytes(5)).decode().lower()
    prefix = f"shelf_{scope.label}_{key_id}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    expires = None if expires_days is None else now_ms + int(expires_days * 86_400_000)
    return key, StoredKey(name, scope.label, prefix, digest(key), now_ms, expires_ms=expires)


def prefix_of(key: str) -> str | None:
    parts = key.split("_", 3)
    if len(parts) != 4 or parts[0] != "shelf" or not parts[3]:
        return None
    return "_".join(parts[:3])


class KeyRing:
    """The live keys of a store, as one serving process sees them."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._by_prefix: dict[str, StoredKey] = {}
        self._loaded_at: float | None = None

    def _fresh(self) -> dict[str, StoredKey]:
        now = self._clock()
        with self._lock:
            if self._loaded_at is None or now - self._loaded_at >= RELOAD_S:
                self._by_prefix = {k.prefix: k for k in self._store.access.api_keys()}
                self._loaded_at = now
            return self._by_prefix

    def configured(self) -> bool:
        """Whether any key was ever created (then every route but the public ones needs one)."""
        return bool(self._fresh())

    def check(self, key: str, now_ms: int) -> StoredKey | None:
        """The live key record ``key`` is, or None (unknown, revoked or expired)."""
        prefix = prefix_of(key)
        found = self._fresh().get(prefix) if prefix else None
        if found is None or not hmac.compare_digest(digest(key), found.digest):
            return None
        if found.revoked_ms is not None or (
            found.expires_ms is not None and found.expires_ms <= now_ms
        ):
            return None
        return found
