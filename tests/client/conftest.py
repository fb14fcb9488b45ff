"""The client against the real app, in-process: a store with keys of every scope, a small
catalog, events and a trained counts model, so that every route answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal

from shelf.catalog import Event, Item
from shelf.client import AsyncClient, Client
from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app, keys
from shelf.serve.keys import Scope, mint

SECRET = "shop-secret-for-client-tests"
BASE = "http://127.0.0.1"
WORDS = ["drill", "paint", "lamp"]


class PortalTransport(httpx.BaseTransport):
    """A sync transport into an ASGI app: httpx's ASGITransport, awaited on the event loop
    of an anyio portal thread (what Starlette's TestClient does, through public APIs)."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def answer() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return self._portal.call(answer)


def stocked_engine(data_dir: Path, **settings: Any) -> Engine:
    from shelf.cli import train_from_store

    defaults: dict[str, Any] = {"rate_limit_per_key": None, "rate_limit_per_client": None,
                                "shopper_token_secret": SECRET}  # fmt: skip
    engine = Engine(Settings(data_dir=data_dir, **{**defaults, **settings}))
    engine.add_items(
        [
            Item(
                item_id=f"i{k}",
                title=f"{WORDS[k % 3]} {k}",
                brand=f"B{k % 2}",
                price=k,
                category=["Tools", WORDS[k % 3].title()],
            )
            for k in range(12)
        ]
    )
    engine.add_events(
        [
            Event(
                user_id=f"u{u}",
                item_id=f"i{(u + s) % 12}",
                type="purchase",
                timestamp=1_700_000_000 + u * 9 + s,
            )
            for u in range(20)
            for s in range(4)
        ]
    )
    train_from_store(engine, model="cooc")
    engine.start_services()
    return engine


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(keys, "RELOAD_S", 0.0)  # a key created or revoked counts at once
    opened = stocked_engine(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def keyed(engine: Engine) -> dict[Scope, str]:
    """One key per scope: from now on the service needs keys."""
    made = {}
    for scope in Scope:
        key, record = mint(f"test-{scope.label}", scope, now_ms=0)
        engine.store.access.add_key(record)
        made[scope] = key
    return made


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as running:
        yield running


@pytest.fixture
def connect(engine: Engine, portal: BlockingPortal) -> Iterator[Callable[..., Client]]:
    """Sync clients of the app: ``connect(api_key=..., ...)``; closed after the test."""
    app = create_app(engine)
    opened: list[Client] = []

    def make(**options: Any) -> Client:
        client = Client(BASE, transport=PortalTransport(app, portal), **options)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def connect_async(engine: Engine) -> Callable[..., AsyncClient]:
    """Async clients of the app (``async with connect_async(api_key=...) as client``)."""
    app = create_app(engine)

    def make(**options: Any) -> AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        return AsyncClient(BASE, transport=transport, **options)

    return make


def mocked(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> Client:
    """A client whose requests ``handler`` answers (no app)."""
    return Client(BASE, transport=httpx.MockTransport(handler), **options)
