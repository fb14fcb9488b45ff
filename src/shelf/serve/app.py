"""The FastAPI application: catalog, events, users and stats routes, plus the stage routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelf import __version__
from shelf.engine import Engine
from shelf.serve import errors, routes_recs, routes_search
from shelf.serve.observe import Metrics, ObserveRequests
from shelf.serve.schemas import (
    ERROR_RESPONSES,
    EventsAck,
    EventsIn,
    Health,
    ItemOut,
    ItemPageOut,
    ItemsAck,
    ItemsIn,
    Stats,
    UserDeleted,
)
from shelf.web import routes as web_routes

log = logging.getLogger("shelf.serve")
router = APIRouter()


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/health", response_model=Health, tags=["service"])
def health() -> Health:
    """Liveness: the service is up."""
    return Health(status="ok", version=__version__)


@router.get("/stats", response_model=Stats, tags=["service"])
def stats(request: Request) -> Stats:
    """Counts of items, users and events by type; the serving models."""
    return Stats(stats=engine_of(request).stats())


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency per route, events ingested, model versions."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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
    stored, duplicates = engine_of(request).add_events(body.events)
    request.app.state.metrics.events_ingested.labels("http").inc(stored)
    request.app.state.metrics.events_duplicate.labels("http").inc(duplicates)
    return EventsAck(received=len(body.events), stored=stored, duplicates=duplicates)


@router.delete(
    "/users/{user_id}", response_model=UserDeleted, responses=ERROR_RESPONSES, tags=["privacy"]
)
def delete_user(request: Request, user_id: Annotated[str, Path(max_length=256)]) -> UserDeleted:
    """Forget a user: their events and live state are deleted."""
    return UserDeleted(events_deleted=engine_of(request).delete_user(user_id))


class BodyLimit:
    """Rejects request bodies over ``max_bytes`` with 413, before they are parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0
        responded = False

        async def limited() -> Message:
            nonlocal seen, responded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now and tell the app the client went away, so it stops reading.
                    if not responded:
                        responded = True
                        await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not responded:
                await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if not responded:
                raise

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = errors.envelope(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


def _publish_versions(app: FastAPI) -> None:
    engine: Engine = app.state.engine
    gauge = app.state.metrics.model_version
    gauge.clear()
    if engine.recs is not None and engine.recs.version:
        gauge.labels("recommendations", engine.recs.version).set(1)
    if engine.search is not None:
        gauge.labels("search", type(engine.search.ranker).__name__).set(1)


async def _watch_models(app: FastAPI, every: float) -> None:
    """Background retraining's other half: swap to newly promoted models while serving."""
    while True:
        await asyncio.sleep(every)
        try:
            if await run_in_threadpool(app.state.engine.reload_recs):
                _publish_versions(app)
        except Exception:  # a bad artifact must not stop the service; it keeps the old one
            log.exception("could not load the newly promoted model; keeping the current one")


def create_app(engine: Engine, *, owns_engine: bool = False) -> FastAPI:
    """The service over ``engine``. The caller owns the engine (and closes it), unless
    ``owns_engine``: then the app closes it when it shuts down (a serving worker's app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = engine
        watcher = None
        if engine.settings.reload_seconds > 0:
            watcher = asyncio.create_task(_watch_models(app, engine.settings.reload_seconds))
        yield
        if watcher is not None:
            watcher.cancel()
        if owns_engine:
            engine.close()

    app = FastAPI(
        title="shelf",
        version=__version__,
        description="Product search and recommendations for an online store.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.metrics = Metrics()
    _publish_versions(app)
    errors.install(app)
    # Stage routers first: /items/{id}/similar must match before /items/{item_id:path}.
    app.include_router(routes_search.router)
    app.include_router(routes_recs.router)
    app.include_router(router)
    app.include_router(web_routes.router)
    app.mount("/static", web_routes.static, name="static")
    # The last added is the outermost: requests rejected for size are still counted and logged.
    app.add_middleware(BodyLimit, max_bytes=engine.settings.max_body_bytes)
    app.add_middleware(ObserveRequests, metrics=app.state.metrics)
    return app
