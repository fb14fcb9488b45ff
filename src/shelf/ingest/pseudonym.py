"""Pseudonymisation at the door: raw user ids never reach the store.

A user id becomes ``HMAC-SHA256(key, id)`` (hex, first 32 characters: 128 bits). The key is
32 random bytes created on first use in the data directory with 0600 permissions. Without the
key the pseudonyms cannot be linked back to ids by guessing; with it, the same id always maps
to the same pseudonym, for files and HTTP alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from shelf.errors import ConfigError

KEY_BYTES = 32
PSEUDONYM_HEX = 32


def load_or_create_key(path: Path) -> bytes:
    """The key at ``path``, created atomically with mode 0600 if it does not exist.

    The key is written and synced under a temporary name, then linked to ``path``: a process
    that starts at the same moment sees either no key or the whole key, never an empty file,
    and when two create one at once the first link wins and both read the winner.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                _fsync_directory(path.parent)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ConfigError(f"pseudonymisation key {path} is corrupt ({len(key)} bytes)")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"pseudonymisation key {path} is readable by others (mode {mode:o})")
    return key


def _fsync_directory(directory: Path) -> None:
    """Make a new name in ``directory`` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Pseudonymizer:
    """Maps raw user ids to stable pseudonyms with a keyed hash."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("the pseudonymisation key must be at least 16 bytes")
        self._key = key
        self.pseudonym = lru_cache(maxsize=200_000)(self._pseudonym)

    @classmethod
    def from_key_file(cls, path: Path) -> Pseudonymizer:
        return cls(load_or_create_key(path))

    def _pseudonym(self, user_id: str) -> str:
        digest = hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]
