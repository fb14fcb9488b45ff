"""Catalog, events and users: the routes that read and write the store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from shelf.serve.auth import SEARCH_EVENTS_MAX, Caller, Forbidden
from shelf.serve.keys import Scope
from shelf.serve.routes_service import engine_of
from shelf.serve.schemas import (
    ERROR_RESPONSES,
    EventsAck,
    EventsIn,
    ItemOut,
    ItemPageOut,
    ItemsAck,
    ItemsIn,
)

router = APIRouter()


@router.get(
    "/items/{item_id:path}", response_model=ItemOut, responses=ERROR_RESPONSES, tags=["catalog"]
)
def get_item(request: Request, item_id: Annotated[str, Path(max_length=256)]) -> ItemOut:
    """One item by id."""
    return ItemOut(item=engine_of(request).get_item(item_id))


@router.get("/items", response_model=ItemPageOut, responses=ERROR_RESPONSES, tags=["catalog"])
def list_items(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    category: Annotated[
        str | None, Query(max_length=1000, description="Category path prefix, 'A > B'.")
    ] = None,
    brand: Annotated[str | None, Query(max_length=256)] = None,
) -> ItemPageOut:
    """Items in id order, optionally under a category path prefix or of one brand."""
    page = engine_of(request).store.list_items(
        offset=offset, limit=limit, category=category, brand=brand
    )
    return ItemPageOut(items=page.items, total=page.total, offset=offset, limit=limit)


@router.post("/items", response_model=ItemsAck, responses=ERROR_RESPONSES, tags=["catalog"])
def post_items(request: Request, body: ItemsIn) -> ItemsAck:
    """Upsert a batch of items by id (all or none)."""
    upserted = engine_of(request).add_items(body.items)
    request.app.state.metrics.items_upserted.inc(upserted)
    return ItemsAck(upserted=upserted)


@router.post("/events", response_model=EventsAck, responses=ERROR_RESPONSES, tags=["events"])
def post_events(request: Request, body: EventsIn) -> EventsAck:
    """Append a batch of events; returns once they are durably stored (all or none).

    Events already stored (same ``event_id``, or same user, item, type and timestamp) are
    counted as duplicates and not stored again. User ids are pseudonymised before storage.
    """
    caller: Caller = request.state.caller
    if caller.scope < Scope.INGEST and len(body.events) > SEARCH_EVENTS_MAX:
        raise Forbidden(
            f"a search key posts at most {SEARCH_EVENTS_MAX} events at once; "
            "bulk writes need an ingest key"
        )
    stored, duplicates = engine_of(request).add_events(body.events)
    request.app.state.metrics.events_ingested.labels("http").inc(stored)
    request.app.state.metrics.events_duplicate.labels("http").inc(duplicates)
    return EventsAck(received=len(body.events), stored=stored, duplicates=duplicates)
