"""How a serving process sees what the others wrote: it tails the store.

Every serving process (a uvicorn worker) keeps its own indexes and models in memory, and the
store is where writes meet. Where event ids follow commit order (SQLite,
``Store.tails_by_id``) each process tails the events table by id and the items table by write
time, so an event or item posted to any worker shapes the next answer of every worker: events
are tailed before each personal answer (one indexed query), items at most every
``ITEM_SYNC_SECONDS``. Item deletions are logged in commit order and tailed by id with the
items, so an item deleted through any worker stops being answered by all. Elsewhere the engine
applies its own writes directly and serves with one worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from shelf.catalog import Item
from shelf.store import Store

ITEM_SYNC_SECONDS = 0.2  # how stale another worker's new item may be here
TAIL_BATCH = 10_000  # events applied per look at the store
PRESENCE_MEMO_SIZE = 100_000  # users whose presence in the store is remembered

EventSink = Callable[[str, str, str], None]  # (user key, item id, event type)


class StoreTail:
    """The watermarks of one process's view of the store, and the looks that move them."""

    def __init__(
        self,
        store: Store,
        *,
        on_event: EventSink,
        on_items: Callable[[Sequence[Item]], int],
        on_deleted: Callable[[Sequence[str]], int],
        on_absent_user: Callable[[str], None],
        on_erased: Callable[[str], object] | None = None,
    ) -> None:
        self.store = store
        self.enabled = store.tails_by_id
        self._on_event = on_event
        self._on_items = on_items
        self._on_deleted = on_deleted
        self._on_absent_user = on_absent_user
        self._on_erased = on_erased or on_absent_user
        self._lock = threading.Lock()
        self._event_watermark = 0
        self._events_token: int | None = None  # the store's change token at the last tail
        self._presence: dict[str, bool] = {}  # user key -> in the store, as of _presence_token
        self._presence_token: int | None = None
        self._items_watermark_ms = 0
        self._deletions_watermark = 0
        self._erasures_watermark_ms = 0
        self._items_checked = 0.0

    def mark_start(self) -> None:
        """Remember where the store is now; later writes are picked up by the looks."""
        self._event_watermark = self.store.last_event_id()
        self._events_token = None
        self._items_watermark_ms = int(time.time() * 1000)
        self._deletions_watermark = self.store.last_item_deletion_id()
        self._erasures_watermark_ms = int(time.time() * 1000)
        self._items_checked = time.monotonic()

    def sync_events(self, token: int | None = None) -> int:
        """Apply the events stored since the last look; returns how many were applied.
        ``token``: the store's change token if the caller just read it."""
        if not self.enabled:
            return 0
        with self._lock:
            if token is None:
                token = self.store.change_token()
            if token is not None and token == self._events_token:
                return 0  # nothing committed anywhere since the last look
            rows = self.store.events_after(self._event_watermark, limit=TAIL_BATCH)
            for _id, user_key, item_id, event_type in rows:
                if item_id is not None:
                    self._on_event(user_key, item_id, event_type)
            if rows:
                self._event_watermark = rows[-1][0]
            # only once every row is applied, and only when no more rows may be waiting
            self._events_token = token if len(rows) < TAIL_BATCH else None
            return len(rows)

    def sync_user(self, key: str) -> None:
        """Bring the user's live state up to date: events from every worker are applied, and
        a user deleted through another worker is forgotten here."""
        if not self.enabled:
            return
        token = self.store.change_token()  # one read serves both checks
        self.sync_events(token)
        if not self._user_present(key, token):
            self._on_absent_user(key)  # deleted (perhaps through another worker), or unknown

    def _user_present(self, key: str, token: int | None) -> bool:
        """Whether the store has the user; answers are remembered until the next commit to
        the store (``token``; any commit may be a deletion), so a repeat visitor costs no
        query."""
        with self._lock:
            if token is None or token != self._presence_token:
                self._presence.clear()
                self._presence_token = token
            known = self._presence.get(key)
        if known is not None:
            return known
        present = self.store.has_user(key)
        with self._lock:
            if token is not None and token == self._presence_token:
                if len(self._presence) >= PRESENCE_MEMO_SIZE:
                    self._presence.clear()
                self._presence[key] = present
        return present

    def items_due(self) -> bool:
        """Whether the next :meth:`sync_items` would look at the store (a clock check, no
        I/O): an async route runs that look, and the indexing it finds, off its event loop."""
        return self.enabled and time.monotonic() - self._items_checked >= ITEM_SYNC_SECONDS

    def sync_items(self, *, force: bool = False) -> int:
        """Index items written, drop items deleted, and erase users erased by other workers
        since the last look
        (at most every ITEM_SYNC_SECONDS unless ``force``); returns how many were new here.

        Deletions are read before the items: an id among both was posted again after its
        deletion (it is in the store later than the deletion was), so it stays or comes
        back; the others are deleted.
        """
        if not self.enabled or not (force or self.items_due()):
            return 0
        with self._lock:
            self._items_checked = time.monotonic()
            deletions = self.store.item_deletions_after(self._deletions_watermark)
            changed = self.store.items_changed_since(self._items_watermark_ms)
            erased = self.store.access.erased_since(self._erasures_watermark_ms)
            if deletions:
                self._deletions_watermark = deletions[-1][0]
            if changed:
                self._items_watermark_ms = changed[-1][0]
            if erased:
                self._erasures_watermark_ms = erased[-1][0]
        for _ms, user_key in erased:  # erased through another worker: erase here too
            self._on_erased(user_key)
        present = {item.item_id for _ms, item in changed}
        gone = list(dict.fromkeys(i for _id, i in deletions if i not in present))
        if gone:
            self._on_deleted(gone)
        return self._on_items([item for _ms, item in changed]) if changed else 0
