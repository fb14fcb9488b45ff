"""The bounds on one record (shelf.catalog.limits): at the bound a record is accepted, one
over it is refused with the field and the bound named; files and HTTP meet the same bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shelf.catalog import limits as lim
from shelf.catalog import parse_event, parse_item
from shelf.errors import ImportRejected, ValidationError
from shelf.ingest import Pseudonymizer, import_events, import_items, store_events
from shelf.store import SQLStore

ITEM = {"item_id": "sku-1", "title": "Cordless drill"}
EVENT = {"user_id": "alice", "item_id": "sku-1", "type": "view", "timestamp": 1_700_000_000}


def attrs(n: int, value: Any = "v") -> dict[str, Any]:
    return {f"a{k}": value for k in range(n)}


# (field, a value at the bound, a value just over it, words the reason must hold)
ITEM_BOUNDS: list[tuple[str, Any, Any, str]] = [
    ("title", "t" * lim.MAX_TITLE_LENGTH, "t" * (lim.MAX_TITLE_LENGTH + 1), "1000"),
    (
        "description",
        "d" * lim.MAX_DESCRIPTION_LENGTH,
        "d" * (lim.MAX_DESCRIPTION_LENGTH + 1),
        "at most 20000 characters",
    ),
    ("brand", "b" * lim.MAX_BRAND_LENGTH, "b" * (lim.MAX_BRAND_LENGTH + 1), "at most 256"),
    (
        "category",
        ["c"] * lim.MAX_CATEGORY_DEPTH,
        ["c"] * (lim.MAX_CATEGORY_DEPTH + 1),
        "at most 10 levels deep, got 11",
    ),
    (
        "category",
        "A > " + "n" * lim.MAX_CATEGORY_NAME_LENGTH,
        "A > " + "n" * (lim.MAX_CATEGORY_NAME_LENGTH + 1),
        "at most 200 characters, got 201",
    ),
    ("attributes", attrs(lim.MAX_ATTRIBUTES), attrs(lim.MAX_ATTRIBUTES + 1), "at most 100 attr"),
    (
        "attributes",
        {"n" * lim.MAX_ATTRIBUTE_NAME_LENGTH: 1},
        {"n" * (lim.MAX_ATTRIBUTE_NAME_LENGTH + 1): 1},
        "at most 128 characters, got 129",
    ),
    (
        "attributes",
        {"color": "v" * lim.MAX_ATTRIBUTE_VALUE_LENGTH},
        {"color": "v" * (lim.MAX_ATTRIBUTE_VALUE_LENGTH + 1)},
        "'color': a value has at most 1000 characters, got 1001",
    ),
    (
        "attributes",
        {"tags": ["t"] * lim.MAX_ATTRIBUTE_VALUES},
        {"tags": ["t"] * (lim.MAX_ATTRIBUTE_VALUES + 1)},
        "'tags' has at most 250 values, got 251",
    ),
    (
        "attributes",
        attrs(lim.MAX_ATTRIBUTES, "v" * (lim.MAX_ATTRIBUTES_TEXT // lim.MAX_ATTRIBUTES - 3)),
        attrs(lim.MAX_ATTRIBUTES, "v" * (lim.MAX_ATTRIBUTES_TEXT // lim.MAX_ATTRIBUTES)),
        "at most 100000 characters of attribute names and values in all",
    ),
    (
        "image_url",
        "https://cdn.example.com/" + "i" * (lim.MAX_IMAGE_URL_LENGTH - 24),
        "https://cdn.example.com/" + "i" * (lim.MAX_IMAGE_URL_LENGTH - 23),
        "at most 2048 characters",
    ),
]


@pytest.mark.parametrize(
    ("field", "ok", "over", "reason"), ITEM_BOUNDS, ids=[f"{b[0]}-{b[3][:20]}" for b in ITEM_BOUNDS]
)
def test_item_bounds(field: str, ok: Any, over: Any, reason: str) -> None:
    parse_item({**ITEM, field: ok})
    with pytest.raises(ValidationError) as caught:
        parse_item({**ITEM, field: over})
    assert caught.value.field == field and reason in caught.value.reason, caught.value


def test_three_hundred_thousand_attributes_are_refused_by_their_count() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_item({**ITEM, "attributes": attrs(300_000)})
    assert caught.value.field == "attributes"
    assert caught.value.reason == "at most 100 attributes, got 300000"
    # nulls are absent attributes (a Parquet struct column has every key): not counted
    parse_item({**ITEM, "attributes": {**attrs(100), **{f"n{k}": None for k in range(500)}}})


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/a.jpg", "http://x/b.png", "/img/c.jpg", "img/d.jpg", "//cdn/e"]
)
def test_image_urls_http_or_relative_are_kept(url: str) -> None:
    assert parse_item({**ITEM, "image_url": f" {url} "}).image_url == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "not javascript:"),
        (" JavaScript:alert(1)", "not javascript:"),
        ("data:image/png;base64,iVBOR", "not data:"),
        ("file:///etc/passwd", "not file:"),
        ("vbscript:msgbox", "not vbscript:"),
        ("java\tscript:alert(1)", "control characters"),  # browsers drop the tab
        ("https://x/\na.jpg", "control characters"),
        ("http://[::1", "is not a URL"),
    ],
)
def test_image_urls_of_other_schemes_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_item({**ITEM, "image_url": url})
    assert caught.value.field == "image_url" and reason in caught.value.reason


EVENT_BOUNDS = [
    ("event_id", lim.MAX_EVENT_ID_LENGTH),
    ("session_id", lim.MAX_SESSION_ID_LENGTH),
    ("query", lim.MAX_QUERY_LENGTH),
]


@pytest.mark.parametrize(("field", "limit"), EVENT_BOUNDS)
def test_event_text_bounds(field: str, limit: int) -> None:
    record = {**EVENT, "type": "search", "query": "drill"} if field == "query" else EVENT
    assert getattr(parse_event({**record, field: "é" * limit}), field) == "é" * limit
    with pytest.raises(ValidationError) as caught:
        parse_event({**record, field: "x" * (limit + 1)})
    assert (caught.value.field, caught.value.reason) == (
        field,
        f"at most {limit} characters, got {limit + 1}",
    )


def test_the_store_columns_are_as_wide_as_validation_allows() -> None:
    from shelf.store.schema import events_table

    columns = events_table.c
    assert columns.event_id.type.length == lim.MAX_EVENT_ID_LENGTH  # type: ignore[attr-defined]
    assert columns.session_id.type.length == lim.MAX_SESSION_ID_LENGTH  # type: ignore[attr-defined]
    assert columns.item_id.type.length == lim.MAX_ID_LENGTH  # type: ignore[attr-defined]


# -- both backends: what validation accepts, the store stores; what it refuses, nothing -------
def test_events_at_the_bounds_are_stored_on_every_backend(store: SQLStore, tmp_path: Path) -> None:
    """PostgreSQL's varchar(256) used to refuse, for the whole batch, what validation let by."""
    store.upsert_items([parse_item(ITEM)])
    pseudonymizer = Pseudonymizer.from_key_file(tmp_path / "key")
    wide = parse_event(
        {**EVENT, "event_id": "é" * lim.MAX_EVENT_ID_LENGTH, "session_id": "s" * 256}
    )
    search = parse_event(
        {**EVENT, "item_id": None, "type": "search", "query": "q" * lim.MAX_QUERY_LENGTH}
    )
    assert store_events(store, pseudonymizer, [wide, search]) == (2, 0)
    stored = store.user_events(pseudonymizer.pseudonym("alice"))
    assert sorted(len(e.session_id or e.query or "") for e in stored) == [256, 512]


def test_an_event_file_over_a_bound_is_refused_by_row_on_every_backend(
    store: SQLStore, tmp_path: Path
) -> None:
    store.upsert_items([parse_item(ITEM)])
    path = tmp_path / "events.jsonl"
    rows = [EVENT, {**EVENT, "timestamp": 1_700_000_001, "session_id": "s" * 257}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pseudonymizer = Pseudonymizer.from_key_file(tmp_path / "key")
    with pytest.raises(ImportRejected) as caught:
        import_events(store, pseudonymizer, path)
    (rejection,) = caught.value.rejections
    assert (rejection.row, rejection.field) == (2, "session_id")
    assert rejection.reason == "at most 256 characters, got 257"
    assert store.counts()["events"] == 0
    report = import_events(store, pseudonymizer, path, skip_invalid=True)
    assert (report.stored, report.invalid) == (1, 1)


def test_an_item_file_over_a_bound_is_refused_by_row(store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    rows = [ITEM, {"item_id": "huge", "title": "Huge", "attributes": attrs(5_000)}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ImportRejected) as caught:
        import_items(store, path)
    (rejection,) = caught.value.rejections
    assert (rejection.row, rejection.field) == (2, "attributes")
    assert rejection.reason == "at most 100 attributes, got 5000"
    assert store.counts()["items"] == 0
