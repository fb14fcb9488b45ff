"""Bad input that would cost other shoppers: an oversized item refused at the door, facets and
filters bounded per request, the response cache bounded by bytes, deleted items never found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shelf.catalog import Item
from shelf.config import Settings
from shelf.engine import Engine
from shelf.errors import ValidationError
from shelf.search.config import SearchConfig
from shelf.search.filters import MAX_FACET_GROUPS, MAX_FILTER_VALUES, CatalogColumns, SearchFilters
from shelf.search.schemas import SearchRequest
from shelf.search.service import SearchService
from shelf.serve import create_app

from ..conftest import local_client
from .conftest import HashingEncoder, ask, make_items


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
    with local_client(create_app(engine), raise_server_exceptions=False) as client:
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


# -- finding 4: facets and filters ------------------------------------------------------------
def test_facets_hold_at_most_the_bounded_groups_most_common_attributes_first() -> None:
    """Attribute facets could be one per attribute name (here 650): the answer holds at most
    MAX_FACET_GROUPS, the fixed ones first, then the attributes with the most values."""
    columns = CatalogColumns()
    shared = {f"attr{k:03d}": "x" for k in range(50)}  # on every item
    columns.add(
        [
            Item(
                item_id=str(i),
                title="t",
                brand="B",
                price=5,
                category=["A", "B"],
                attributes={**shared, **{f"attr{50 + 50 * i + k:03d}": "y" for k in range(50)}},
            )
            for i in range(12)
        ]
    )
    facets = columns.facets(np.arange(12))
    assert len(facets) == MAX_FACET_GROUPS
    assert list(facets)[:3] == ["brand", "category.0", "category.1"]
    assert list(facets)[-2:] == ["available", "price"]
    shown = [k.removeprefix("attributes.") for k in facets if k.startswith("attributes.")]
    assert shown == [f"attr{k:03d}" for k in range(15)]  # the shared ones, ties by name
    assert all(len(values) <= 20 for values in facets.values())
    assert len(columns.facets(np.arange(12), groups=2)) == 2


def test_search_filters_are_bounded_and_the_error_names_the_parameter(
    shop: tuple[Engine, TestClient],
) -> None:
    _engine, client = shop
    at_bound = [f"B{k}" for k in range(MAX_FILTER_VALUES)]
    assert client.get("/search", params={"q": "drill", "brand": at_bound}).status_code == 200
    over = client.get("/search", params={"q": "drill", "brand": [*at_bound, "one more"]})
    assert over.status_code == 422
    assert over.json()["error"]["details"][0]["field"] == "brand"
    assert "at most 50 brands, got 51" in over.json()["error"]["message"]
    attrs = [f"color:c{k}" for k in range(MAX_FILTER_VALUES + 1)]
    over = client.get("/search", params={"q": "drill", "attr": attrs})
    assert over.status_code == 422 and over.json()["error"]["details"][0]["field"] == "attr"
    too_deep = " > ".join(["c"] * 11)
    over = client.get("/search", params={"q": "drill", "category": too_deep})
    assert over.status_code == 422 and over.json()["error"]["details"][0]["field"] == "category"
    assert client.get("/search", params={"q": "q" * 513}).status_code == 422


def test_search_filters_are_bounded_for_library_callers_too() -> None:
    with pytest.raises(ValidationError) as caught:
        SearchRequest.checked(
            query="x", filters={"attributes": {f"a{k}": ["v"] for k in range(51)}}
        )
    assert caught.value.field == "filters.attributes"
    with pytest.raises(ValidationError, match="at most 50 values of 'color'"):
        SearchRequest.checked(query="x", filters={"attributes": {"color": ["v"] * 51}})
    SearchFilters(brands=["b"] * 50, attributes={"color": ["v"] * 50})


# -- finding 5: the response cache by bytes ---------------------------------------------------
def test_the_response_cache_is_bounded_by_bytes(items: list[Item]) -> None:
    config = SearchConfig(k_lexical=50, k_dense=50, response_cache_bytes=4_000)
    service = SearchService.build(
        items, config=config, encoder=HashingEncoder(), show_progress=False
    )
    queries = ["drill", "door", "sofa", "samsung", "refrigerator", "hinge", "couch", "tv"]
    weights = []
    for query in queries:
        response = ask(service, query)
        weights.append(len(response.model_dump_json()))
        stats = service.response_cache_stats()
        assert stats["bytes"] is not None and stats["bytes"] <= 4_000
    stats = service.response_cache_stats()
    assert stats["entries"] < len(queries)  # the entry bound (4096) was not what evicted
    assert ask(service, queries[-1]).cached  # the newest is kept
    assert not ask(service, queries[0]).cached  # the oldest went first
    assert sum(weights) > 4_000 and all(w < 4_000 for w in weights)


# -- finding 6: deleted items are never found -------------------------------------------------
def test_a_deleted_item_is_never_answered_and_comes_back_when_added_again(
    service: SearchService,
) -> None:
    def everywhere() -> set[str]:
        found = set()
        for request in (
            {"query": "cordless drill"},
            {"query": ""},  # browsing
            {"query": "", "filters": SearchFilters(brands=["Ryobi"])},
            {"query": "drill", "filters": SearchFilters(category=["Tools"])},
        ):
            response = service.search(SearchRequest.checked(**request))  # type: ignore[arg-type]
            found |= {h.item_id for h in response.items}
            found |= set(response.facets.get("brand", {}))
        return found

    assert {"4", "Ryobi"} <= everywhere()
    cached = ask(service, "cordless drill")
    assert cached.cached
    assert service.delete_items(["4", "ghost"]) == 1
    assert not ask(service, "cordless drill").cached  # the cache started fresh
    assert not {"4", "Ryobi"} & everywhere()  # hits, browse, filters and facets
    assert ask(service, "").total == 9 and len(service) == 9
    assert service.delete_items(["4"]) == 0  # already gone
    again = next(i for i in make_items() if i.item_id == "4")
    assert service.add_items([again]) == 1
    assert "4" in {h.item_id for h in ask(service, "ryobi drill driver").items}
    assert len(service) == 10 and service.position("4") == 10  # a new row
