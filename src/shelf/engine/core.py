"""The running system in one object: settings, store, pseudonymiser and the live services.

The HTTP app, the web page and the CLI all go through an :class:`Engine`, so a write made over
HTTP and one made from a file take the same path (validate, pseudonymise, store, then tell the
live services). :meth:`Engine.start_services` builds the search index from the store and loads
the promoted recommendation artifact; both are optional, and the routes say so when absent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from shelf import artifacts
from shelf.catalog import Event, Item
from shelf.config import Settings
from shelf.engine.tail import StoreTail
from shelf.errors import NotFoundError
from shelf.ingest.group_commit import GroupCommit
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.privacy.erasure import erase_now
from shelf.recommend.personalize import personalize
from shelf.recommend.service import RecommendService
from shelf.search.config import SearchConfig
from shelf.search.learned import load_query_log, load_query_model
from shelf.search.rank import load_ranker
from shelf.search.service import SearchService
from shelf.store import Store, open_store

log = logging.getLogger("shelf.engine")
RECS_ARTIFACT = "recs"


class EventsStored(NamedTuple):
    """What became of a batch of events: newly stored, already stored, of erased users."""

    stored: int
    duplicates: int
    erased: int


class Engine:
    """Store + pseudonymiser + the search and recommendation services that serve requests."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.data_dir.chmod(0o700)  # the store, the pseudonym key and artifacts live here
        self.store: Store = store if store is not None else open_store(settings.store_url)
        self.pseudonymizer = Pseudonymizer.from_key_file(settings.key_path)
        # events posted at the same time share a commit (see GroupCommit)
        self.event_writer = GroupCommit(self.store, self.pseudonymizer)
        self.search: SearchService | None = None
        self.recs: RecommendService | None = None
        # Guards which items are being indexed (never held while encoding: reads take it
        # when their look at the store finds new items); see _index_new_items.
        self._index_lock = threading.Lock()
        self._indexing: dict[str, threading.Event] = {}  # item id -> set once it is in
        self._cancelled: set[str] = set()  # deleted while being indexed
        self.tail = StoreTail(
            self.store,
            on_event=self._record_event,
            on_items=self._index_new_items,
            on_deleted=self._forget_items,
            on_absent_user=self._forget_live_user,
        )

    # -- services ---------------------------------------------------------------------------
    def start_services(
        self, *, search: bool = True, recs: bool = True, show_progress: bool = False
    ) -> None:
        """Build the search index over the stored catalog; load the promoted recommenders."""
        self.tail.mark_start()
        if search:
            self.search = self.build_search(show_progress=show_progress)
        if recs:
            self.recs = self.load_recs()

    def warm_up(self) -> None:
        """Exercise search and recommendations once (see their ``warm_up``): a server calls
        this before it takes requests."""
        if self.search is not None:
            self.search.warm_up()
        if self.recs is not None:
            self.recs.warm_up()

    def build_search(self, *, show_progress: bool = False) -> SearchService | None:
        """A search service over every stored item (embeddings come from the on-disk cache)."""
        items = list(self.store.iter_items())
        if not items:
            return None
        ranker_dir = self.settings.index_dir / "ranker"
        ranker = load_ranker(ranker_dir, compiled=True) if ranker_dir.exists() else None
        config = SearchConfig(
            encode_in_parallel=self.settings.encode_in_parallel,
            response_cache_bytes=self.settings.search_response_cache_bytes,
        )
        service = SearchService.build(
            items,
            config=config,
            cache_dir=None,  # the shared embedding cache, also used by training
            ranker=ranker,
            show_progress=show_progress,
            graph_cache=self.settings.index_dir / "graphs",  # workers and restarts share it
        )
        service.set_query_model(load_query_model(ranker_dir))  # from `shelf search-train`
        service.set_query_log(load_query_log(ranker_dir))
        service.set_popularity({k: float(v) for k, v in self.store.item_event_counts().items()})
        if self.recs is not None:
            service.personalizer = self._personalize
        return service

    def reload_recs(self) -> bool:
        """Swap to a newly promoted recommendation artifact, if there is one.

        The new service is loaded beside the old one and takes over its live events; the swap
        is one reference assignment, so a request sees the old or the new service, never half
        of each, and none fails. ``shelf train`` promotes only a version at least as good as
        the current one, so the server never swaps to a worse model. Returns whether it swapped.
        """
        version = artifacts.promoted(self.settings.artifacts_dir, RECS_ARTIFACT)
        current = self.recs
        if version is None or (current is not None and current.version == version.name):
            return False
        fresh = self.load_recs()
        if fresh is None:
            return False
        fresh.warm_up()  # before the swap: no request waits for the new model's first use
        if current is not None:
            fresh.carry_live_state(current)
        self.recs = fresh
        log.info("swapped recommendations to %s", fresh.version)
        return True

    def load_recs(self) -> RecommendService | None:
        """The promoted recommendation bundle, or None when nothing has been trained."""
        version = artifacts.promoted(self.settings.artifacts_dir, RECS_ARTIFACT)
        if version is None:
            return None
        titles: dict[str, str] = {}
        categories: dict[str, list[str]] = {}
        for item in self.store.iter_items():
            titles[item.item_id] = item.title
            categories[item.item_id] = item.category
        service = RecommendService.from_artifact(version, titles=titles, categories=categories)
        # trained on the stored events, the models know items deleted since: never shown
        service.exclude_items(set(service.personal.items_) - titles.keys())
        log.info("serving recommendations from %s", version)
        if self.search is not None:
            self.search.personalizer = self._personalize
        return service

    def _personalize(self, user_id: str, item_ids: list[str], scores: np.ndarray) -> np.ndarray:
        """Search's personalisation hook (raw user id in, :mod:`shelf.recommend.personalize`)."""
        recs = self.recs
        if recs is None:
            return scores
        return personalize(recs, self.user_key(user_id), item_ids, scores)

    # -- reads and writes -------------------------------------------------------------------
    def user_key(self, user_id: str) -> str:
        return self.pseudonymizer.pseudonym(user_id)

    def get_item(self, item_id: str) -> Item:
        item = self.store.get_item(item_id)
        if item is None:
            raise NotFoundError("item", item_id)
        return item

    def add_items(self, items: Sequence[Item]) -> int:
        """Upsert items, then make new ones (and deleted ones posted again) findable by
        search at once."""
        stored = self.store.upsert_items(items)
        self._index_new_items(items, wait=True)
        return stored

    def delete_item(self, item_id: str) -> None:
        """Delete the item from the store and from the live services: search never answers
        it again and the recommenders leave it out, until it is posted again. Other serving
        processes learn of it from the store's deletion log (:mod:`shelf.engine.tail`)."""
        if not self.store.delete_items([item_id]):
            raise NotFoundError("item", item_id)
        self._forget_items([item_id])

    def _forget_items(self, item_ids: Sequence[str]) -> int:
        """Take deleted items out of the live services; returns how many search held."""
        with self._index_lock:  # an item being indexed now is taken out once it is in
            self._cancelled.update(i for i in item_ids if i in self._indexing)
        recs = self.recs
        if recs is not None:
            recs.exclude_items(item_ids)
        search = self.search
        return 0 if search is None else search.delete_items(item_ids)

    def _index_new_items(self, items: Sequence[Item], *, wait: bool = False) -> int:
        """Give new items (and deleted ones posted again) to the live services; returns how
        many search indexed. Changed items keep their old index entry until the next start
        (a rebuild).

        Their text is encoded outside every lock a read waits on (a post of 40 items once
        held a recommendation for 3.4 s): ``_index_lock`` only records which items a thread
        is indexing, so that no two threads index the same one, and the services take their
        own locks for the final insertion only. ``wait``: also wait for the items of this
        call that another thread is indexing (a post answers once its items are findable;
        a read's look at the store leaves them to that thread).
        """
        unique = {i.item_id: i for i in items}
        done = threading.Event()
        with self._index_lock:
            others = {self._indexing[k] for k in unique if k in self._indexing}
            mine = [i for k, i in unique.items() if k not in self._indexing]
            for item in mine:
                self._indexing[item.item_id] = done
        cancelled: set[str] = set()
        try:
            indexed = self._index(mine)
        finally:
            with self._index_lock:
                for item in mine:
                    del self._indexing[item.item_id]
                cancelled = self._cancelled & {i.item_id for i in mine}
                self._cancelled -= cancelled
            done.set()
        if cancelled:  # deleted while being encoded: out again
            self._forget_items(sorted(cancelled))
        if wait:
            for other in others:
                other.wait()
        return indexed

    def _index(self, items: list[Item]) -> int:
        if not items:
            return 0
        recs = self.recs
        if recs is not None:
            recs.add_catalog_items(items)  # encodes, then takes its lock to insert
        search = self.search
        if search is None:
            return 0
        fresh = [i for i in items if search.position(i.item_id) is None]
        if fresh:
            search.add_items(fresh)  # encodes, then takes its lock to insert
        return len(fresh)

    def add_events(self, events: Sequence[Event]) -> EventsStored:
        """Store events durably (all or none), then feed them to the live recommender.
        Events of erased users are not stored (the tombstone) and are counted apart."""
        stored, unstored = self.event_writer.store_events(events)
        keys = [self.user_key(e.user_id) for e in events]
        erased = self.store.access.erased(keys) if unstored else set()
        refused = sum(key in erased for key in keys)
        if self.tail.enabled:
            self.tail.sync_events()  # applies exactly the stored rows, this worker's and others'
        else:
            for key, event in zip(keys, events, strict=True):
                if key not in erased and event.item_id is not None:
                    self._record_event(key, event.item_id, event.type.value)
        return EventsStored(stored, unstored - refused, refused)

    def _record_event(self, user_key: str, item_id: str, event_type: str) -> None:
        recs = self.recs
        if recs is not None:
            recs.record_event(user_key, item_id, event_type)

    def _forget_live_user(self, user_key: str) -> None:
        """Erase the user from the served recommenders (live state and models)."""
        recs = self.recs
        if recs is not None and recs.forget_user(user_key):
            log.info(
                "a user was erased from %s; its personal model forgets only by retraining",
                recs.version,
            )

    # -- live state shared through the store (see shelf.engine.tail) -------------------------
    def sync_live(self) -> int:
        """Apply the events other workers stored since the last look; returns how many."""
        return self.tail.sync_events()

    def live_user(self, user_id: str) -> str:
        """The user's pseudonym, after bringing the live state up to date with the store."""
        key = self.user_key(user_id)
        self.tail.sync_user(key)
        self.tail.sync_items()
        return key

    def items_sync_due(self) -> bool:
        return self.tail.items_due()

    def sync_items(self, *, force: bool = False) -> int:
        return self.tail.sync_items(force=force)

    def delete_user(self, user_id: str) -> int:
        """Erase a user everywhere (:mod:`shelf.privacy.erasure`): the store, a tombstone,
        this process's served models, the rejects files; the trained models by the deadline.
        Returns the number of events deleted."""
        detail = erase_now(
            self.store,
            self.user_key(user_id),
            now_ms=int(time.time() * 1000),
            settings=self.settings,
            live=self._erase_live,
        )
        return int(detail["events_deleted"])

    def _erase_live(self, user_key: str) -> bool:
        """Erase the user from the served models; whether a retrain is still needed."""
        recs = self.recs
        return recs is not None and recs.erase_user(user_key)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "store": self.store.counts(),
            "backend": self.store.url.split(":")[0].split("+")[0],
        }
        if self.search is not None:
            out["search"] = {
                "items": len(self.search),
                "ranker": type(self.search.ranker).__name__,
                "encoder": self.search.config.encoder,
                "ranker_compiled": getattr(self.search.ranker, "compiled_", None) is not None,
                "encode_in_parallel": self.search.config.encode_in_parallel,
                "response_cache": self.search.response_cache_stats(),
            }
        if self.recs is not None:
            version = artifacts.promoted(self.settings.artifacts_dir, RECS_ARTIFACT)
            meta = artifacts.read_meta(version) if version is not None else {}
            out["recommendations"] = {
                "version": self.recs.version,
                "model": meta.get("model"),
                "metrics": meta.get("metrics", {}),
                "trained_on": meta.get("data", {}),
            }
        return out

    def close(self) -> None:
        self.store.close()
