"""Bad input that would cost other shoppers: an oversized item refused at the door."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shelf.catalog import Item
from shelf.config import Settings
from shelf.engine import Engine
from shelf.search.service import SearchService
from shelf.serve import create_app

from .conftest import HashingEncoder


def answer_of(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in {"took_ms", "cached"}}


@pytest.fixture
def shop(tmp_path: Path, items: list[Item]) -> Iterator[tuple[Engine, TestClient]]:
    """The whole app (default body limit) over an engine with a search index."""
    engine = Engine(Settings(data_dir=tmp_path / "data"))
    engine.add_items(items)
    engine.search = SearchService.build(
        engine.store.iter_items(), encoder=HashingEncoder(), show_progress=False
    )
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        yield engine, client
    engine.close()


# -- finding 1: one oversized item ------------------------------------------------------------
def test_an_item_with_300000_attributes_is_refused_at_the_door_and_search_goes_on(
    shop: tuple[Engine, TestClient],
) -> None:
    engine, client = shop
    before = client.get("/search", params={"q": "drill"}).json()
    huge = {
        "item_id": "huge",
        "title": "Drill",
        "attributes": {f"a{k}": "v" for k in range(300_000)},
    }
    response = client.post("/items", json={"items": [huge]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"] == [
        {"row": 1, "field": "attributes", "reason": "at most 100 attributes, got 300000"}
    ]
    assert len(response.content) < 1000
    assert engine.store.get_item("huge") is None and len(engine.search or []) == 10
    after = client.get("/search", params={"q": "drill"})
    assert after.status_code == 200 and answer_of(after.json()) == answer_of(before)
    assert len(after.content) < 20_000
