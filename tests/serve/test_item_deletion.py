"""DELETE /items/{item_id} through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelf.config import Settings
from shelf.engine import Engine
from shelf.serve import create_app

from ..conftest import local_client
from .test_api import ITEMS, error_of


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine(Settings(data_dir=tmp_path / "data"))
    yield opened
    opened.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with local_client(create_app(engine), raise_server_exceptions=False) as test_client:
        assert test_client.post("/items", json={"items": ITEMS}).status_code == 200
        yield test_client


def test_delete_an_item(client: TestClient, engine: Engine) -> None:
    event = {"user_id": "u", "item_id": "d1", "type": "view", "timestamp": 1_700_000_000}
    assert client.post("/events", json={"events": [event]}).json()["stored"] == 1
    response = client.delete("/items/d1")
    assert response.status_code == 200 and response.json() == {"ok": True, "item_id": "d1"}
    error_of(client.get("/items/d1"), 404, "not_found")
    assert [i["item_id"] for i in client.get("/items").json()["items"]] == ["d2", "s1", "x1"]
    assert engine.store.counts()["events"] == 1  # the shopper's history stays
    later = {**event, "timestamp": 1_700_000_100}
    error = error_of(client.post("/events", json={"events": [later]}), 422, "validation_error")
    assert "not in the catalog" in error["message"]
    error_of(client.delete("/items/d1"), 404, "not_found")  # already gone
    assert "shelf_items_deleted_total 1.0" in client.get("/metrics").text
    # posted again, it is a new item
    assert client.post("/items", json={"items": [ITEMS[0]]}).json()["upserted"] == 1
    assert client.get("/items/d1").json()["item"]["title"] == "Cordless drill"


def test_delete_items_whose_ids_hold_slashes_and_not_their_sub_resources(
    client: TestClient,
) -> None:
    assert client.post("/items", json={"items": [{"item_id": "a/b", "title": "T"}]}).is_success
    assert client.delete("/items/a/b").json() == {"ok": True, "item_id": "a/b"}
    error_of(client.delete("/items/d2/similar"), 405, "method_not_allowed")
    error_of(client.delete("/items/d2/bought-together"), 405, "method_not_allowed")
    error_of(client.delete("/items/" + "x" * 257), 422, "validation_error")
