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
from typing import TYPE_CHECKING, Any

import numpy as np

from shelf.catalog import Event, Item
from shelf.config import Settings
from shelf.errors import NotFoundError
from shelf.ingest.importer import GroupCommit
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store import Store, open_store

if TYPE_CHECKING:
    from shelf.recommend.service import RecommendService
    from shelf.search.service import SearchService
    from shelf.text.encoder import Encoder

log = logging.getLogger("shelf.engine")
RECS_ARTIFACT = "recs"
PERSONAL_WEIGHT = 0.5
ITEM_SYNC_SECONDS = 0.2  # how stale another worker's new item may be here
TAIL_BATCH = 10_000  # events applied per look at the store
PRESENCE_MEMO_SIZE = 100_000  # users whose presence in the store is remembered


class Engine:
    """Store + pseudonymiser + the search and recommendation services that serve requests."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store if store is not None else open_store(settings.store_url)
        self.pseudonymizer = Pseudonymizer.from_key_file(settings.key_path)
        # events posted at the same time share a commit (see GroupCommit)
        self.event_writer = GroupCommit(self.store, self.pseudonymizer)
        self.search: SearchService | None = None
        self.recs: RecommendService | None = None
        self._text_encoder: Encoder | None = None
        self._sync_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._event_watermark = 0
        self._events_token: int | None = None  # the store's change token at the last tail
        self._presence: dict[str, bool] = {}  # user key -> in the store, as of _presence_token
        self._presence_token: int | None = None
        self._items_watermark_ms = 0
        self._items_checked = 0.0

    # -- services ---------------------------------------------------------------------------
    def start_services(
        self, *, search: bool = True, recs: bool = True, show_progress: bool = False
    ) -> None:
        """Build the search index over the stored catalog; load the promoted recommenders."""
        self.mark_sync_start()
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
        from shelf.search.config import SearchConfig
        from shelf.search.learned import load_query_log, load_query_model
        from shelf.search.rank import load_ranker
        from shelf.search.service import SearchService

        items = list(self.store.iter_items())
        if not items:
            return None
        ranker_dir = self.settings.index_dir / "ranker"
        ranker = load_ranker(ranker_dir, compiled=True) if ranker_dir.exists() else None
        config = SearchConfig(encode_in_parallel=self.settings.encode_in_parallel)
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
        from shelf import artifacts

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
        from shelf import artifacts
        from shelf.recommend.service import RecommendService

        version = artifacts.promoted(self.settings.artifacts_dir, RECS_ARTIFACT)
        if version is None:
            return None
        titles: dict[str, str] = {}
        categories: dict[str, list[str]] = {}
        for item in self.store.iter_items():
            titles[item.item_id] = item.title
            categories[item.item_id] = item.category
        service = RecommendService.from_artifact(version, titles=titles, categories=categories)
        log.info("serving recommendations from %s", version)
        if self.search is not None:
            self.search.personalizer = self._personalize
        return service

    def _personalize(self, user_id: str, item_ids: list[str], scores: Any) -> Any:
        """Search's personalisation hook: nudge results toward the user's recent history.

        Items that co-occur with the user's last few items get a bonus of up to
        ``PERSONAL_WEIGHT`` standard deviations of the query's scores: enough to reorder
        near-ties, never enough to bury a clearly better lexical match.
        """
        recs = self.recs
        if recs is None:
            return scores
        history = [h for h in recs.history(self.user_key(user_id))[-5:]
                   if h in recs.cooc.item_index_]  # fmt: skip
        if not history:
            return scores
        link: dict[str, float] = {}
        for row in recs.cooc.neighbours(history, 100):
            for item, weight in row:
                link[item] = max(link.get(item, 0.0), weight)
        if not link:
            return scores
        top = max(link.values())
        bonus = np.array([link.get(i, 0.0) / top for i in item_ids], dtype=np.float32)
        spread = float(np.std(scores)) or 1.0
        return np.asarray(scores, dtype=np.float32) + PERSONAL_WEIGHT * spread * bonus

    # -- reads and writes -------------------------------------------------------------------
    def user_key(self, user_id: str) -> str:
        return self.pseudonymizer.pseudonym(user_id)

    def get_item(self, item_id: str) -> Item:
        item = self.store.get_item(item_id)
        if item is None:
            raise NotFoundError("item", item_id)
        return item

    def add_items(self, items: Sequence[Item]) -> int:
        """Upsert items, then make new ones findable by search at once."""
        stored = self.store.upsert_items(items)
        self._index_new_items(items)
        return stored

    def _index_new_items(self, items: Sequence[Item]) -> int:
        with self._index_lock:
            self._recommend_new_items(items)
            search = self.search
            if search is None:
                return 0
            fresh = list(
                {i.item_id: i for i in items if search.position(i.item_id) is None}.values()
            )
            # Changed items keep their old index entry until the next start (a rebuild).
            if fresh:
                search.add_items(fresh)
            return len(fresh)

    def _recommend_new_items(self, items: Sequence[Item]) -> None:
        """Give items the text-aware recommender has never seen a vector from their text, so
        they are recommendable at once (cold start); id-only models learn them at retraining."""
        recs = self.recs
        if recs is None or not getattr(recs.personal, "can_add_items", False):
            return
        fresh = {i.item_id: i for i in items if i.item_id not in recs.personal.item_index_}
        if not fresh:
            return
        from shelf.catalog import recommender_text
        from shelf.text.encoder import load_encoder

        if self._text_encoder is None:
            self._text_encoder = load_encoder("minilm")  # the shared embedding cache
        vectors = self._text_encoder.encode(
            [recommender_text(i.model_dump()) for i in fresh.values()]
        )
        recs.add_items(
            list(fresh),
            vectors,
            titles={k: i.title for k, i in fresh.items()},
            categories={k: i.category for k, i in fresh.items()},
        )

    def add_events(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store events durably (all or none), then feed them to the live recommender."""
        stored, duplicates = self.event_writer.store_events(events)
        if self.tails_store:
            self.sync_live()  # applies exactly the stored rows, this worker's and others'
        elif self.recs is not None:
            for event in events:
                if event.item_id is not None:
                    self.recs.record_event(
                        self.user_key(event.user_id), event.item_id, event.type.value
                    )
        return stored, duplicates

    # -- live state shared through the store ----------------------------------------------
    # Every serving process (uvicorn worker) keeps its own indexes and models in memory, and
    # the store is where writes meet. On SQLite each process tails the events table by id
    # (ids follow commit order there) and the items table by write time, so an event or item
    # posted to any worker shapes the next answer of every worker: events are tailed before
    # each personal answer (one indexed query), items at most every ITEM_SYNC_SECONDS.
    # PostgreSQL can commit ids out of order, so there the engine applies its own writes
    # directly and serves with one worker.
    @property
    def tails_store(self) -> bool:
        return self.store.url.startswith("sqlite")

    def mark_sync_start(self) -> None:
        """Remember where the store is now; later writes are picked up by the tails."""
        self._event_watermark = self.store.last_event_id()
        self._events_token = None
        self._items_watermark_ms = int(time.time() * 1000)
        self._items_checked = time.monotonic()

    def sync_live(self, token: int | None = None) -> int:
        """Apply the events stored since the last call to the live recommender; returns how
        many were applied. ``token``: the store's change token if the caller just read it."""
        if not self.tails_store:
            return 0
        with self._sync_lock:
            if token is None:
                token = self.store.change_token()
            if token is not None and token == self._events_token:
                return 0  # nothing committed anywhere since the last look
            rows = self.store.events_after(self._event_watermark, limit=TAIL_BATCH)
            recs = self.recs
            if rows and recs is not None:
                for _id, user_key, item_id, event_type in rows:
                    if item_id is not None:
                        recs.record_event(user_key, item_id, event_type)
            if rows:
                self._event_watermark = rows[-1][0]
            # only once every row is applied, and only when no more rows may be waiting
            self._events_token = token if len(rows) < TAIL_BATCH else None
            return len(rows)

    def live_user(self, user_id: str) -> str:
        """The user's pseudonym, after bringing the live state up to date: events from every
        worker are applied, and a user deleted through another worker is forgotten here."""
        key = self.user_key(user_id)
        if self.tails_store:
            token = self.store.change_token()  # one read serves both checks
            self.sync_live(token)
            recs = self.recs
            if recs is not None and not self._user_present(key, token):
                recs.forget_user(key)  # deleted (perhaps through another worker), or unknown
        self.sync_items()
        return key

    def _user_present(self, key: str, token: int | None) -> bool:
        """Whether the store has the user; answers are remembered until the next commit to
        the store (``token``, read before this call; any commit may be a deletion), so a
        repeat visitor costs no query."""
        with self._sync_lock:
            if token is None or token != self._presence_token:
                self._presence.clear()
                self._presence_token = token
            known = self._presence.get(key)
        if known is not None:
            return known
        present = self.store.has_user(key)
        with self._sync_lock:
            if token is not None and token == self._presence_token:
                if len(self._presence) >= PRESENCE_MEMO_SIZE:
                    self._presence.clear()
                self._presence[key] = present
        return present

    def items_sync_due(self) -> bool:
        """Whether the next :meth:`sync_items` would look at the store (a clock check, no
        I/O). An async route runs that look, and any indexing it finds, off its event loop."""
        return self.tails_store and time.monotonic() - self._items_checked >= ITEM_SYNC_SECONDS

    def sync_items(self, *, force: bool = False) -> int:
        """Index items written by other workers since the last look (at most every
        ITEM_SYNC_SECONDS unless ``force``); returns how many were new here."""
        if not self.tails_store or not (force or self.items_sync_due()):
            return 0
        with self._sync_lock:
            self._items_checked = time.monotonic()
            changed = self.store.items_changed_since(self._items_watermark_ms)
            if not changed:
                return 0
            self._items_watermark_ms = changed[-1][0]
        return self._index_new_items([item for _ms, item in changed])

    def delete_user(self, user_id: str) -> int:
        """Forget a user everywhere: stored events and live state. Returns events deleted."""
        key = self.user_key(user_id)
        deleted = self.store.delete_user(key)
        if self.recs is not None:
            self.recs.forget_user(key)
        return deleted

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "store": self.store.counts(),
            "backend": self.store.url.split(":")[0].split("+")[0],
        }
        if self.search is not None:
            out["search"] = {
                "items": len(self.search.items),
                "ranker": type(self.search.ranker).__name__,
                "encoder": self.search.config.encoder,
                "ranker_compiled": getattr(self.search.ranker, "compiled_", None) is not None,
                "encode_in_parallel": self.search.config.encode_in_parallel,
                "response_cache": self.search.response_cache_stats(),
            }
        if self.recs is not None:
            from shelf import artifacts

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
