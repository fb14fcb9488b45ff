"""Rejected rows of an import: a few kept for the error message, all written to a rejects
file (mode 0600) when asked, events with the user's pseudonym in place of the raw id."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from shelf.errors import Rejection, ValidationError
from shelf.ingest.pseudonym import Pseudonymizer

if TYPE_CHECKING:
    from shelf.ingest.importer import ImportReport

MAX_REJECTIONS_SHOWN = 20


class Rejects:
    """Collects rejected rows: a few kept for the error message, all written if asked, each
    through ``scrub`` (an events import writes the user's pseudonym, never the raw id)."""

    def __init__(
        self,
        report: ImportReport,
        handle: IO[str] | None,
        scrub: Callable[[Any], Any] = lambda record: record,
    ) -> None:
        self.report = report
        self.handle = handle
        self.scrub = scrub
        self._lock = threading.Lock()  # the parser and the writer thread both reject rows

    def add(self, row: int, error: ValidationError, record: Any = None) -> None:
        rejection = Rejection(row=row, field=error.field, reason=error.reason)
        with self._lock:
            self.report.invalid += 1
            self.report.rejections.append(rejection)
            self.report.rejections.sort(key=lambda r: r.row)
            del self.report.rejections[MAX_REJECTIONS_SHOWN:]
            if self.handle is not None:
                entry = {"row": row, "field": error.field, "reason": error.reason,
                         "record": self.scrub(record)}  # fmt: skip
                self.handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


def pseudonymised(record: Any, pseudonymizer: Pseudonymizer) -> Any:
    """A rejected event row as it may be kept: the user's pseudonym in place of the raw id
    (a row that was not even an object keeps nothing)."""
    if not isinstance(record, dict):
        return None
    user = record.get("user_id")
    if user is None or isinstance(user, bool):
        return record
    return {**record, "user_id": pseudonymizer.pseudonym(str(user).strip())}
