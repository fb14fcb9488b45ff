"""GET /search through a real ASGI app with the search router (in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelf.search.service import SearchService
from shelf.serve.errors import install
from shelf.serve.routes_search import router


@pytest.fixture
def client(service: SearchService) -> Iterator[TestClient]:
    app = FastAPI()
    install(app)
    app.include_router(router)
    app.state.engine = SimpleNamespace(
        search=service,
        sync_items=lambda **_: 0,
        items_sync_due=lambda: False,
        live_user=lambda user: user,
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_search_returns_items_reasons_facets_and_understanding(client: TestClient) -> None:
    r = client.get("/search", params={"q": "cordless drill under $100"})
    assert r.status_code == 200
    body = r.json()
    assert {h["item_id"] for h in body["items"]} == {"3", "4"}
    assert body["understood"]["price_max"] == 100.0
    assert body["facets"]["brand"] == {"DEWALT": 1, "Ryobi": 1}
    assert all(h["reason"] for h in body["items"])


def test_filters_sort_and_paging(client: TestClient) -> None:
    params = {"q": "drill", "category": "Tools > Drills", "sort": "price_desc", "page_size": 2}
    body = client.get("/search", params=params).json()
    assert [h["price"] for h in body["items"]] == [199.0, 99.0]
    body = client.get("/search", params={**params, "page": 2}).json()
    assert [h["price"] for h in body["items"]] == [79.0]
    body = client.get("/search", params={"q": "drill", "attr": "color:Red"}).json()
    assert [h["item_id"] for h in body["items"]] == ["5"]
    body = client.get("/search", params={"q": "drill", "brand": ["Ryobi", "DEWALT"]}).json()
    assert {h["item_id"] for h in body["items"]} == {"3", "4"}


def test_bad_requests_get_the_error_envelope(client: TestClient) -> None:
    r = client.get("/search", params={"q": "drill", "price_min": 50, "price_max": 10})
    assert r.status_code == 422
    assert r.json()["ok"] is False
    assert client.get("/search", params={"q": "drill", "sort": "cheapest"}).status_code == 422
    assert client.get("/search", params={"q": "drill", "attr": "red"}).status_code == 422


def test_a_repeated_request_says_it_came_from_the_cache(client: TestClient) -> None:
    first = client.get("/search", params={"q": "door hinge"})
    again = client.get("/search", params={"q": "door hinge"})
    assert first.headers["x-cache"] == "miss" and again.headers["x-cache"] == "hit"
    assert again.json()["cached"] is True and first.json()["cached"] is False
    assert again.json()["items"] == first.json()["items"]
    personal = client.get("/search", params={"q": "door hinge", "user_id": "u1"})
    assert personal.headers["x-cache"] == "miss"
