"""Event batches posted at the same time share one commit (:class:`GroupCommit`), and one
client's bad batch never fails another's."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from shelf.catalog import Event
from shelf.errors import ValidationError
from shelf.ingest.importer import check_items, to_stored, unique_events
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store.base import Store, StoredEvent


@dataclass
class _Batch:
    """One caller's events waiting for a group commit, and what became of them."""

    events: Sequence[Event]
    rows: list[StoredEvent]
    wake: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # this caller commits the next group
    result: tuple[int, int] | None = None
    error: BaseException | None = None
    refused: bool = False  # refused before it was written (an unknown item): not retried


class GroupCommit:
    """Event batches posted at the same time share one transaction: one commit, one fsync.

    A caller whose batch waits while another group commits does not commit alone afterwards:
    the first waiting caller becomes the leader and commits every batch waiting by then
    (at most ``max_batches``), then hands over to the next waiting caller, if any. Each batch is
    still all or none and each caller returns only after the commit that holds its batch, so
    what is acknowledged is durable.

    One client's bad batch never fails another's: what can be checked before the shared
    transaction is (each event is validated, bounded as the columns are, and converted when
    posted; a batch naming an unknown item is refused alone), and if the shared transaction
    fails anyway, it rolled back whole, so each of its batches is committed again alone and
    only the one that fails alone fails. A failure before any batch was written (the store
    busy or unreachable) fails the group at once: it would fail each batch alike. Written by
    hand: SQLAlchemy and SQLite offer no group commit, and the leader/follower hand-over is
    short.
    """

    def __init__(
        self,
        store: Store,
        pseudonymizer: Pseudonymizer,
        *,
        max_batches: int = 64,
        source: str = "request",
    ) -> None:
        self.store = store
        self.pseudonymizer = pseudonymizer
        self.max_batches = max_batches
        self.source = source
        self.commits = 0  # transactions committed (each may hold several batches)
        self.retries = 0  # shared transactions that failed and were retried batch by batch
        self._lock = threading.Lock()
        self._waiting: list[_Batch] = []
        self._leading = False

    def store_events(self, events: Sequence[Event]) -> tuple[int, int]:
        """Store one batch atomically; return ``(stored, duplicates)`` once it is committed."""
        batch = _Batch(events, [to_stored(e, self.pseudonymizer) for e in events])
        with self._lock:
            self._waiting.append(batch)
            if not self._leading:
                self._leading = batch.leads = True
        if not batch.leads:
            batch.wake.wait()  # committed by a leader, or made the leader
        if batch.leads:
            self._commit_next_group()
        if batch.error is not None:
            raise batch.error
        assert batch.result is not None
        return batch.result

    def _commit_next_group(self) -> None:
        with self._lock:
            group = self._waiting[: self.max_batches]
            del self._waiting[: self.max_batches]
        try:
            self._commit(group)
        finally:
            with self._lock:
                if self._waiting:
                    following = self._waiting[0]
                    following.leads = True
                    following.wake.set()
                else:
                    self._leading = False
            for batch in group:
                batch.wake.set()

    def _commit(self, group: list[_Batch]) -> None:
        """Commit the group; every batch ends with a result or an error (nothing raises)."""
        written = self._commit_together(group)
        failed = [b for b in group if b.error is not None and not b.refused]
        if failed and written and len(group) > 1:
            # The shared transaction rolled back whole: each of its batches again, alone.
            self.retries += 1
            for batch in failed:
                batch.error = None
                self._commit_together([batch])

    def _commit_together(self, group: list[_Batch]) -> bool:
        """One transaction for ``group``; on a failure, every batch not refused gets the
        error. Returns whether any batch was written (then the failure may be a batch's)."""
        written = False
        try:
            with self.store.transaction() as conn:
                wanted = {e.item_id for b in group for e in b.events if e.item_id}
                known = self.store.existing_item_ids(wanted, conn)
                for batch in group:
                    try:
                        check_items(batch.events, known, self.source)
                    except ValidationError as exc:
                        batch.error, batch.refused = exc, True
                        continue
                    written = True
                    stored = self.store.add_events(unique_events(batch.rows), conn)
                    batch.result = (stored, len(batch.events) - stored)
            self.commits += 1
        except BaseException as exc:  # the transaction rolled back: no batch of it is stored
            for batch in group:
                if not batch.refused:
                    batch.result, batch.error = None, exc
        return written
