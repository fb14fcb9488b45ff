"""Catalog, events and users: the routes that read and write the store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.convertors import PathConvertor, register_url_convertor

from shelf.catalog import MAX_ID_LENGTH
from shelf.serve.auth import SEARCH_EVENTS_MAX, Caller, Forbidden
from shelf.serve.keys import Scope
from shelf.serve.routes_service import engine_of
from shelf.serve.schemas import (
    ERROR_RESPONSES,
    EventsAck,
    EventsIn,
    ItemDeleted,
    ItemOut,
    ItemPageOut,
    ItemsAck,
    ItemsIn,
)

router = APIRouter()


class ItemPath(PathConvertor):
    """An item id that may hold ``/``, but is not one of the item's own sub-resources: a
    DELETE of ``/items/{id}/similar`` is a method that path does not have (405), not the
    deletion of an item ``{id}/similar``."""

    regex = r".+(?<!/similar)(?<!/bought-together)"


register_url_convertor("item_path", ItemPath())


@router.get(
    "/items/{item_id:path}", response_model=ItemOut, responses=ERROR_RESPONSES, tags=["catalog"]
)
def get_item(request: Request, item_id: Annotated[str, Path(max_length=MAX_ID_LENGTH)]) -> ItemOut:
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


@router.delete(
    "/items/{item_id:item_path}",
    response_model=ItemDeleted,
    responses=ERROR_RESPONSES,
    tags=["catalog"],
)
def delete_item(
    request: Request, item_id: Annotated[str, Path(max_length=MAX_ID_LENGTH)]
) -> ItemDeleted:
    """Delete an item (scope ``ingest``): from the store, and from search and the
    recommendations of every serving process; its events stay. Posting the same id again
    brings it back."""
    engine_of(request).delete_item(item_id)
    request.app.state.metrics.items_deleted.inc()
    return ItemDeleted(item_id=item_id)


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
    stored, duplicates, erased = engine_of(request).add_events(body.events)
    request.app.state.metrics.events_ingested.labels("http").inc(stored)
    request.app.state.metrics.events_duplicate.labels("http").inc(duplicates)
    return EventsAck(received=len(body.events), stored=stored, duplicates=duplicates, erased=erased)
