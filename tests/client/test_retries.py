"""429s: retried when asked, after the Retry-After the server gave, within bounds."""

from __future__ import annotations

import asyncio
import email.utils
import time
from pathlib import Path

import httpx
import pytest

from shelf.client import AsyncClient, RateLimited, clients
from shelf.engine import Engine
from shelf.serve import create_app
from shelf.serve.keys import Scope, mint

from .conftest import BASE, mocked, stocked_engine

TRENDING = {"source": "trending", "model_version": None, "items": []}


class Busy:
    """Answers 429 (``Retry-After: retry_after``) ``times`` times, then 200."""

    def __init__(self, times: int, retry_after: str | None = "2") -> None:
        self.left = times
        self.retry_after = retry_after
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            headers = {"retry-after": self.retry_after} if self.retry_after is not None else {}
            error = {"status": 429, "type": "rate_limited", "message": "slow down", "details": []}
            body = {"ok": False, "error": error}
            return httpx.Response(429, json=body, headers=headers)
        return httpx.Response(200, json=TRENDING)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(clients.time, "sleep", slept.append)

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(clients.anyio, "sleep", no_wait)
    return slept


def test_no_retry_by_default(waits: list[float]) -> None:
    busy = Busy(1)
    with mocked(busy) as client, pytest.raises(RateLimited) as limited:
        client.trending()
    assert (limited.value.status, limited.value.retry_after, busy.calls, waits) == (429, 2.0, 1, [])


def test_retries_wait_what_the_server_asks(waits: list[float]) -> None:
    busy = Busy(2)
    with mocked(busy, max_retries=3) as client:
        assert client.trending().source == "trending"
    assert (busy.calls, waits) == (3, [2.0, 2.0])


def test_retries_are_bounded(waits: list[float]) -> None:
    busy = Busy(5)
    with mocked(busy, max_retries=2) as client, pytest.raises(RateLimited):
        client.trending()
    assert (busy.calls, waits) == (3, [2.0, 2.0])
    too_long = Busy(1, retry_after="120")
    with (
        mocked(too_long, max_retries=2, max_retry_wait=30) as client,
        pytest.raises(RateLimited) as limited,
    ):
        client.trending()
    assert (limited.value.retry_after, too_long.calls, len(waits)) == (120.0, 1, 2)


def test_retry_after_as_a_date_or_missing(waits: list[float]) -> None:
    soon = email.utils.formatdate(time.time() + 10, usegmt=True)
    with mocked(Busy(1, retry_after=soon), max_retries=1) as client:
        client.trending()
    assert 8 <= waits[-1] <= 10
    with mocked(Busy(2, retry_after=None), max_retries=2) as client:
        client.trending()
    assert waits[-2:] == [1.0, 2.0]  # doubling from a second when the server names no wait


def test_the_async_client_retries_too(waits: list[float]) -> None:
    busy = Busy(1)

    async def ask() -> str:
        async with AsyncClient(BASE, transport=httpx.MockTransport(busy), max_retries=1) as c:
            return (await c.trending()).source

    assert asyncio.run(ask()) == "trending"
    assert (busy.calls, waits) == (2, [2.0])


def test_the_servers_own_limit(tmp_path: Path, waits: list[float]) -> None:
    engine: Engine = stocked_engine(tmp_path, rate_limit_per_key="2/minute")
    try:
        key, record = mint("busy", Scope.SEARCH, now_ms=0)
        engine.store.access.add_key(record)
        transport = httpx.ASGITransport(app=create_app(engine), client=("127.0.0.1", 1))

        async def ask() -> RateLimited:
            async with AsyncClient(BASE, api_key=key, transport=transport) as client:
                await client.trending()
                await client.trending()
                with pytest.raises(RateLimited) as limited:
                    await client.trending()
                return limited.value

        limited = asyncio.run(ask())
        assert limited.retry_after is not None and 1 <= limited.retry_after <= 60
        assert limited.code == "rate_limited" and limited.request_id
    finally:
        engine.close()
