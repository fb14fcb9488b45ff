"""Pseudonymisation: HMAC-SHA256 under a key file created once with mode 0600."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path

import pytest

from shelf.errors import ConfigError
from shelf.ingest import Pseudonymizer
from shelf.ingest.pseudonym import load_or_create_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert path.read_bytes() == key
    assert mode(path) == 0o600
    assert load_or_create_key(path) == key  # not recreated


def test_key_file_is_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_key(tmp_path / "pseudonym.key")
    finally:
        os.umask(old)
    assert mode(tmp_path / "pseudonym.key") == 0o600


def load_at_once(path: Path, n: int) -> list[bytes | Exception]:
    """``n`` threads load (or create) the key at ``path`` at the same moment."""
    start = threading.Barrier(n)
    keys: list[bytes | Exception] = []

    def load() -> None:
        start.wait()
        try:
            keys.append(load_or_create_key(path))
        except Exception as exc:  # collected, to fail the test with it
            keys.append(exc)

    threads = [threading.Thread(target=load) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return keys


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """Serve and import started at once on a fresh data dir: no one reads a half-written key."""
    for trial in range(10):
        path = tmp_path / str(trial) / "pseudonym.key"
        keys = load_at_once(path, 6)
        assert keys == [keys[0]] * 6, keys
        assert isinstance(keys[0], bytes) and len(keys[0]) == 32
        assert [p.name for p in path.parent.iterdir()] == ["pseudonym.key"]  # no temporaries


def test_two_key_files_differ(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path / "a.key") != load_or_create_key(tmp_path / "b.key")


def test_pseudonym_is_truncated_hmac_sha256() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, b"alice@example.com", hashlib.sha256).hexdigest()[:32]
    assert Pseudonymizer(key).pseudonym("alice@example.com") == expected
    # Pinned: a change of derivation would orphan every pseudonym already stored.
    assert Pseudonymizer(key).pseudonym("42") == "7df989924b2ebf8832c80802d1213a8a"


def test_pseudonym_is_stable_across_instances_with_the_same_key_file(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    first = Pseudonymizer.from_key_file(path)
    second = Pseudonymizer.from_key_file(path)
    ids = ["alice", "bob", "Émile", "42"]
    assert [first.pseudonym(i) for i in ids] == [second.pseudonym(i) for i in ids]
    assert len({first.pseudonym(i) for i in ids}) == 4
    assert all(len(first.pseudonym(i)) == 32 for i in ids)
    other = Pseudonymizer.from_key_file(tmp_path / "other.key")
    assert other.pseudonym("alice") != first.pseudonym("alice")


def test_corrupt_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"is corrupt \(5 bytes\)"):
        load_or_create_key(path)


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        Pseudonymizer.from_key_file(path)


def test_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        Pseudonymizer(b"0123456789")
