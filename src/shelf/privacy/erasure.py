"""Erasure that reaches everything (GDPR Art. 17): a user is gone from the store, the served
models and every artifact, within a stated deadline.

At once (:func:`erase_now`): the store's events and user row (SQLite overwrites the freed
pages, ``secure_delete``, and the WAL is checkpointed so no copy stays in it), a tombstone
that keeps the pseudonym from coming back through any import path, the live state and the
counts-based models of the serving process (which subtract the user exactly), and the rejects
files. Other serving processes read the tombstone from the store and do the same.

By the deadline (:func:`complete_due`, run by ``shelf erasures run`` and by every server's
model watcher): models that cannot forget exactly (trained weights) are retrained on the store,
which no longer holds the user; that version is promoted whatever its metrics, and every older
artifact version that holds the user is deleted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shelf import artifacts
from shelf.config import Settings
from shelf.store import Store

log = logging.getLogger("shelf.privacy")
RECS_ARTIFACT = "recs"
MODEL_PARTS = ("personal", "cooc", "trending")  # the sub-artifacts of a recommendation version
HOUR_MS = 3_600_000


def erase_now(
    store: Store, user_key: str, *, now_ms: int, settings: Settings, live: Callable[[str], bool]
) -> dict[str, Any]:
    """Erase ``user_key`` from the store, the serving process (``live``: erases from the
    served models, returns whether a retrain is still needed) and the rejects files; record the
    tombstone and the retrain deadline. Returns what was erased where."""
    deadline = now_ms + int(settings.erasure_retrain_hours * HOUR_MS)
    first = store.access.add_erasure(user_key, now_ms, deadline)
    events = store.delete_user(user_key)
    rejects = purge_rejects(settings.data_dir / "rejects", user_key)
    retrain = live(user_key)
    held = [str(p.name) for p in versions_holding(settings.artifacts_dir, [user_key])]
    detail = {
        "events_deleted": events,
        "rejects_rows_deleted": rejects,
        "served_models": "erased in memory"
        + ("; personal model needs a retrain" if retrain else ""),
        "artifact_versions_holding": held,
    }
    if not first:  # erased before (e.g. re-sent): keep the first request's deadline
        detail["repeated"] = True
    store.access.update_erasure(user_key, detail, completed_ms=None if held else now_ms)
    scrub_after_delete(store)  # last: no write after it leaves a WAL behind
    return detail


def scrub_after_delete(store: Store) -> None:
    """SQLite: fold the WAL back into the database file and truncate it, so deleted rows live
    on in neither (freed pages are zeroed, ``secure_delete``). PostgreSQL: nothing to do here
    (its VACUUM reclaims dead rows)."""
    store.checkpoint()


def purge_rejects(folder: Path, user_key: str) -> int:
    """Delete the user's rows from every rejects file (they hold pseudonyms); returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in sorted(folder.glob("*.jsonl")):
        kept, dropped = [], 0
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line).get("record", {})
                except ValueError:
                    kept.append(line)
                    continue
                if isinstance(record, dict) and record.get("user_id") == user_key:
                    dropped += 1
                else:
                    kept.append(line)
        if dropped:
            tmp = path.with_suffix(".tmp")
            tmp.touch(mode=0o600)
            tmp.write_text("".join(kept), encoding="utf-8")
            tmp.replace(path)
            removed += dropped
    return removed


def versions_holding(artifacts_dir: Path, user_keys: Iterable[str]) -> list[Path]:
    """The recommendation artifact versions that hold any of ``user_keys`` (in a model's
    vocabulary or the purchase lists)."""
    wanted = set(user_keys)
    root = artifacts_dir / RECS_ARTIFACT
    if not root.is_dir() or not wanted:
        return []
    found = []
    for version in sorted(p for p in root.iterdir() if p.is_dir()):
        users: set[str] = set()
        for part in MODEL_PARTS:
            vocab = version / part / "vocab.json"
            if vocab.exists():
                users.update(json.loads(vocab.read_text()).get("users", []))
        bought = version / "bought.json"
        if bought.exists():
            users.update(json.loads(bought.read_text()))
        if users & wanted:
            found.append(version)
    return found


def due(store: Store, now_ms: int, *, margin_ms: int = 0) -> list[str]:
    """Pseudonyms whose erasure must reach the trained models by ``now_ms + margin_ms``."""
    return [e.user_key for e in store.access.erasures(pending_only=True)
            if e.retrain_by_ms <= now_ms + margin_ms]  # fmt: skip


def complete_due(
    settings: Settings,
    store: Store,
    *,
    now_ms: int,
    retrain: Callable[[], Path],
    margin_ms: int = 0,
    force: bool = False,
) -> list[str]:
    """Finish the erasures due (every pending one with ``force``): retrain without the users
    (``retrain`` trains from the store and returns the new version, promoted whatever its
    metrics), delete the older versions that hold them, mark them complete. Returns the
    pseudonyms completed."""
    pending = [e.user_key for e in store.access.erasures(pending_only=True)]
    if not pending or not (force or due(store, now_ms, margin_ms=margin_ms)):
        return []
    held = versions_holding(settings.artifacts_dir, pending)
    fresh: Path | None = None
    if held:
        fresh = retrain()
        artifacts.promote(settings.artifacts_dir, RECS_ARTIFACT, fresh, force=True)
        for version in versions_holding(settings.artifacts_dir, pending):
            if version != fresh:
                shutil.rmtree(version)
                log.info("deleted artifact version %s: it held an erased user", version.name)
    for key in pending:
        erasure = next(e for e in store.access.erasures() if e.user_key == key)
        detail = dict(erasure.detail)
        detail["retrained_version"] = fresh.name if fresh is not None else None
        detail["artifact_versions_deleted"] = [v.name for v in held if v != fresh]
        store.access.update_erasure(key, detail, completed_ms=now_ms)
    return pending


def retrain_from_store(settings: Settings, *, log: Callable[[str], None] | None = None) -> Path:
    """Train the recommendation bundle on the store (which holds no erased user) with the
    promoted version's model, and promote it whatever its metrics; returns the version."""
    from shelf.train.recs import train_bundle, training_data_from_store

    current = artifacts.promoted(settings.artifacts_dir, RECS_ARTIFACT)
    model = artifacts.read_meta(current).get("model") if current is not None else None
    data, texts, fingerprint = training_data_from_store(settings.store_url)
    version, _promoted, _metrics = train_bundle(
        data,
        settings.artifacts_dir,
        model=str(model or "sasrec+cooc"),
        texts=texts,
        data_fingerprint=fingerprint,
        force=True,
        log=log,
    )
    return version


class ErasureRunner:
    """Starts ``shelf erasures run`` in a child process when an erasure is due within a
    quarter of the deadline, so that trained models are rebuilt in time without a cron job
    (the child takes a lock: one run per data directory, whichever server starts it)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._child: subprocess.Popen[bytes] | None = None

    def check(self, now_ms: int) -> bool:
        """Start a run if one is due and none is going; returns whether it started one."""
        if self._child is not None and self._child.poll() is None:
            return False
        margin = int(self.settings.erasure_retrain_hours * HOUR_MS / 4)
        if not due(self.store, now_ms, margin_ms=margin):
            return False
        command = [sys.executable, "-c", "from shelf.cli import main; main()", "erasures", "run",
                   "--margin-hours", f"{margin / HOUR_MS:g}"]  # fmt: skip
        env = {**os.environ, **self.settings.as_environment()}
        self._child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        log.info("started `shelf erasures run`: an erasure is due within %g h", margin / HOUR_MS)
        return True
