"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shelf.catalog import Event, Item

MAX_BATCH = 10_000


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class Ack(BaseModel):
    ok: bool = True


class ItemsAck(Ack):
    upserted: int


class EventsAck(Ack):
    received: int
    stored: int = Field(description="Events newly stored (durably, before this response).")
    duplicates: int = Field(description="Events already stored before (same dedup key).")
    erased: int = Field(
        default=0, description="Events of erased users, refused (their tombstone keeps them out)."
    )


class ItemOut(Ack):
    item: Item


class ItemPageOut(Ack):
    items: list[Item]
    total: int
    offset: int
    limit: int


class Health(Ack):
    status: str
    version: str
    access: str = Field(
        description="'keys' (routes need API keys) or 'open' (no key yet: loopback only)."
    )
    training: dict[str, Any] | None = Field(
        default=None,
        description="The latest model training here: state (training, done, failed), model, "
        "epoch of max_epochs, validation NDCG@10, ETA in seconds.",
    )
    notice: str | None = Field(default=None, description="The shop's notice (SHELF_PAGE_NOTICE).")


class Stats(Ack):
    stats: dict[str, Any]


class UserDeleted(Ack):
    events_deleted: int


class ItemDeleted(Ack):
    item_id: str = Field(description="Deleted from the store, search and recommendations.")


class ErrorDetail(BaseModel):
    row: int | None = None
    field: str | None = None
    reason: str


class ErrorBody(BaseModel):
    status: int
    type: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    ok: bool = False
    error: ErrorBody


# The error statuses every route may answer, all with the envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 413, 422, 429, 500, 503)
}
