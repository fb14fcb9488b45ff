"""The FastAPI application: its routers, middleware, error envelope and lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelf import __version__
from shelf.engine import Engine
from shelf.privacy.erasure import ErasureRunner
from shelf.serve import (
    docs,
    errors,
    routes_access,
    routes_data,
    routes_recs,
    routes_search,
    routes_service,
)
from shelf.serve.auth import Gate, authorize
from shelf.serve.headers import SecurityHeaders
from shelf.serve.keys import KeyRing
from shelf.serve.observe import Metrics, ObserveRequests
from shelf.serve.shoppers import SHOPPER_TOKEN_HEADER
from shelf.web import routes as web_routes

log = logging.getLogger("shelf.serve")


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
    """Background retraining's other half: swap to newly promoted models while serving, and
    start the retrain an erasure needs before its deadline."""
    engine: Engine = app.state.engine
    erasures = ErasureRunner(engine.settings, engine.store)
    while True:
        await asyncio.sleep(every)
        try:
            if await run_in_threadpool(engine.reload_recs):
                _publish_versions(app)
        except Exception:  # a bad artifact must not stop the service; it keeps the old one
            log.exception("could not load the newly promoted model; keeping the current one")
        try:
            await run_in_threadpool(erasures.check, int(time.time() * 1000))
        except Exception:  # the next look tries again; the deadline is hours away
            log.exception("could not start the erasure run")


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

    settings = engine.settings
    app = FastAPI(
        title="shelf",
        version=__version__,
        description="Product search and recommendations for an online store.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # every route's scope: serve/auth.py
        docs_url=None,  # serve/docs.py: routes whose scope is checked, assets from no CDN
        redoc_url=None,
        openapi_url=None,
    )
    app.state.engine = engine
    app.state.metrics = Metrics()
    app.state.gate = Gate(
        KeyRing(engine.store),
        per_key=settings.rate_limit_per_key,
        per_client=settings.rate_limit_per_client,
        shopper_secret=settings.shopper_token_secret,
    )
    _publish_versions(app)
    errors.install(app)
    # Stage routers first: /items/{id}/similar must match before /items/{item_id:path}.
    app.include_router(routes_search.router)
    app.include_router(routes_recs.router)
    app.include_router(routes_service.router)
    app.include_router(routes_data.router)
    app.include_router(routes_access.router)
    app.include_router(docs.router)
    app.include_router(web_routes.router)
    docs.mount_assets(app)
    app.mount("/static", web_routes.static, name="static")
    # The last added is the outermost: requests rejected for size are still counted and logged.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", SHOPPER_TOKEN_HEADER],
        )
    if settings.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(ObserveRequests, metrics=app.state.metrics)
    return app
