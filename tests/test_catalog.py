"""The domain types: normalisation of timestamps, prices and categories, and precise errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shelf.catalog import Event, EventType, Item, parse_event, parse_item, to_utc
from shelf.errors import ShelfError, ValidationError

ITEM = {"item_id": "sku-1", "title": "Cordless drill"}
EVENT = {"user_id": "alice", "item_id": "sku-1", "type": "view", "timestamp": 1_700_000_000}


def item_error(**fields: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_item({**ITEM, **fields})
    return caught.value


def event_error(record: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_event(record)
    return caught.value


# -- timestamps --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # ISO 8601 with a zone is converted to UTC.
        ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        ("2024-03-01T12:00:00-05:30", datetime(2024, 3, 1, 17, 30, tzinfo=UTC)),
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
        ("2024-03-01T12:00:00.250Z", datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)),
        # Without a zone, UTC is assumed.
        ("2024-03-01T12:00:00", datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
        ("2024-03-01 12:00", datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("  2024-03-01T12:00:00Z  ", datetime(2024, 3, 1, 12, 0, tzinfo=UTC)),
        # Epoch seconds and milliseconds, as numbers and as numeric strings.
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000.5, datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=UTC)),
        (1_700_000_000_123, datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (" 1700000000123 ", datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)),
        ("1700000000.25", datetime(2023, 11, 14, 22, 13, 20, 250_000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        # Around the seconds/milliseconds threshold (1e11): 99,999,999,999 s is the year 5138.
        (99_999_999_999, datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)),
        (100_000_000_001, datetime(1973, 3, 3, 9, 46, 40, 1_000, tzinfo=UTC)),
        # Datetimes: naive is UTC, aware is converted.
        (datetime(2024, 1, 1, 8, 0), datetime(2024, 1, 1, 8, 0, tzinfo=UTC)),
        (
            datetime(2024, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=9))),
            datetime(2023, 12, 31, 23, 0, tzinfo=UTC),
        ),
    ],
)
def test_to_utc_normalises_to_exact_utc(raw: object, expected: datetime) -> None:
    got = to_utc(raw)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("yesterday", "'yesterday' is neither ISO 8601 nor epoch seconds/milliseconds"),
        ("2024-13-01", "'2024-13-01' is neither ISO 8601 nor epoch seconds/milliseconds"),
        (-1, "-1 is not a valid epoch time"),
        (float("nan"), "nan is not a valid epoch time"),
        ("inf", "inf is not a valid epoch time"),
        (1e30, "1e+30 is out of range for a timestamp"),
        (True, "a timestamp cannot be a boolean"),
        ([2024], "cannot read a timestamp from list"),
        # Valid ISO text whose UTC instant falls outside what a datetime can hold.
        ("0001-01-01T00:00:00+14:00", "is out of range for a timestamp"),
        ("9999-12-31T23:59:59-12:00", "is out of range for a timestamp"),
    ],
)
def test_to_utc_rejects_with_the_reason(raw: object, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        to_utc(raw)
    assert reason in str(caught.value)


def test_event_timestamp_errors_name_the_field() -> None:
    error = event_error({**EVENT, "timestamp": "0001-01-01T00:00:00+14:00"})
    assert error.field == "timestamp"
    assert "out of range" in error.reason


# -- items -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,299.50", 1299.5),
        ("1,299.50", 1299.5),
        ("1,000,000", 1_000_000.0),
        ("€ 12", 12.0),
        ("£3.5", 3.5),
        (" 42 ", 42.0),
        ("0", 0.0),
        (19.99, 19.99),
        (7, 7.0),
        # Absent in all its spellings (JSON null, an empty cell, a NaN from a dataframe).
        (None, None),
        ("", None),
        ("   ", None),
        (float("nan"), None),
    ],
)
def test_price_is_normalised(raw: object, expected: float | None) -> None:
    assert parse_item({**ITEM, "price": raw}).price == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("cheap", "'cheap' is not a number"),
        ("-1", "Input should be greater than or equal to 0"),
        (-0.01, "Input should be greater than or equal to 0"),
        ("inf", "Input should be a finite number"),
        (float("inf"), "Input should be a finite number"),
        # A decimal comma would otherwise be read as a thousands separator: 1000x off.
        ("1,5", "is ambiguous"),
        ("1.299,50", "is ambiguous"),
    ],
)
def test_bad_price_names_the_field(raw: object, reason: str) -> None:
    error = item_error(price=raw)
    assert error.field == "price"
    assert reason in error.reason
    assert str(error) == f"field 'price': {error.reason}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tools > Power Tools > Drills", ["Tools", "Power Tools", "Drills"]),
        ("Tools>Drills", ["Tools", "Drills"]),
        ("Tools / Drills", ["Tools", "Drills"]),
        ("Tools | Drills", ["Tools", "Drills"]),
        ("Tools", ["Tools"]),
        (" > Tools >  > Drills > ", ["Tools", "Drills"]),
        (["Tools", " Drills "], ["Tools", "Drills"]),
        (("Tools", ""), ["Tools"]),
        ('["Tools", "Drills"]', ["Tools", "Drills"]),
        ("", []),
        (None, []),
    ],
)
def test_category_path(raw: object, expected: list[str]) -> None:
    item = parse_item({**ITEM, "category": raw})
    assert item.category == expected
    assert item.category_path == " > ".join(expected)


def test_category_errors() -> None:
    assert item_error(category='["Tools",').reason == "looks like a JSON list but does not parse"
    error = item_error(category={"a": 1})
    assert (error.field, error.reason) == (
        "category",
        "must be a list of category names or a 'A > B > C' string",
    )


def test_item_defaults_and_normalisation() -> None:
    item = parse_item(
        {
            "item_id": 1234,
            "title": "  Drill  ",
            "brand": 3,
            "currency": " eur ",
            "available": "no",
            "attributes": '{"color": "red", "watts": 18}',
            "created_at": "2024-01-02T03:04:05Z",
        }
    )
    assert item == Item(
        item_id="1234",
        title="Drill",
        description="",
        category=[],
        brand="3",
        price=None,
        currency="EUR",
        attributes={"color": "red", "watts": 18},
        image_url=None,
        available=False,
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    bare = parse_item(ITEM)
    assert (bare.description, bare.currency, bare.available, bare.attributes) == (
        "",
        "USD",
        True,
        {},
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("yes", True), ("1", True), ("T", True), ("false", False), ("0", False), (False, False)],
)
def test_available_booleans(raw: object, expected: bool) -> None:
    assert parse_item({**ITEM, "available": raw}).available is expected


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"title": "x"}, "item_id", "is required"),
        ({"item_id": "a"}, "title", "is required"),
        ({"item_id": "", "title": "x"}, "item_id", "must not be empty"),
        ({"item_id": "   ", "title": "x"}, "item_id", "must not be empty"),
        ({"item_id": "a" * 257, "title": "x"}, "item_id", "longer than 256 characters"),
        # A huge number is an id of 301 digits: still over the limit.
        ({"item_id": 1e300, "title": "x"}, "item_id", "longer than 256 characters"),
        ({"item_id": True, "title": "x"}, "item_id", "not a boolean"),
        ({"item_id": 1.5, "title": "x"}, "item_id", "must be a string id, got float"),
        ({"item_id": "a", "title": "  "}, "title", "String should have at least 1 character"),
        ({"item_id": "a", "title": "x", "currency": "dollars"}, "currency", "3-letter ISO 4217"),
        ({"item_id": "a", "title": "x", "available": "maybe"}, "available", "'maybe' is not a"),
        ({"item_id": "a", "title": "x", "attributes": "{"}, "attributes", "must be a JSON object"),
        ({"item_id": "a", "title": "x", "attributes": [1]}, "attributes", "must be an object"),
        (
            {"item_id": "a", "title": "x", "attributes": {"size": {"w": 1}}},
            "attributes",
            "'size' must be a string, number, boolean or list of strings",
        ),
        (
            {"item_id": "a", "title": "x", "attributes": {"sizes": ["S", 2]}},
            "attributes",
            "'sizes' must be a string, number, boolean or list of strings",
        ),
        (
            {"item_id": "a", "title": "x", "attributes": {"watts": float("inf")}},
            "attributes",
            "'watts' must be a finite number",
        ),
        ({"item_id": "a", "title": "x", "colour": "red"}, "colour", "is not a known field"),
        # Text no backend can store is refused at the door, naming the field.
        ({"item_id": "a\x00b", "title": "x"}, "item_id", "contains a NUL character"),
        ({"item_id": "a\ud800", "title": "x"}, "item_id", "unpaired surrogate"),
        ({"item_id": "a", "title": "x", "brand": "\udc00"}, "brand", "unpaired surrogate"),
        ({"item_id": "a", "title": "x", "attributes": {"k": "v\x00"}}, "attributes", "NUL"),
    ],
)
def test_item_errors_name_the_field(record: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_item(record)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert caught.value.row is None


def test_attributes_keep_their_types_and_drop_nulls() -> None:
    attributes = {"color": None, "watts": 18, "kg": 1.5, "cordless": True, "tags": ["a", "b"]}
    item = parse_item({**ITEM, "attributes": attributes})
    assert item.attributes == {"watts": 18, "kg": 1.5, "cordless": True, "tags": ["a", "b"]}
    assert item.attributes["cordless"] is True


def test_item_is_frozen() -> None:
    item = parse_item(ITEM)
    with pytest.raises(Exception, match="frozen"):
        item.title = "other"  # type: ignore[misc]


# -- events ------------------------------------------------------------------------------------
def test_event_normalisation() -> None:
    event = parse_event(
        {
            "event_id": 77,
            "user_id": 42,
            "item_id": 1001,
            "type": "rating",
            "value": "4.5",
            "timestamp": "1700000000123",
            "session_id": 9,
        }
    )
    assert event == Event(
        event_id="77",
        user_id="42",
        item_id="1001",
        type=EventType.RATING,
        value=4.5,
        timestamp=datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC),
        session_id="9",
        query=None,
    )


@pytest.mark.parametrize("blank", [None, "", float("nan")])
def test_event_optional_value_may_be_absent(blank: object) -> None:
    assert parse_event({**EVENT, "value": blank}).value is None


def test_search_event_needs_no_item() -> None:
    event = parse_event({"user_id": "u", "type": "search", "query": "drill", "timestamp": 0})
    assert (event.item_id, event.query) == (None, "drill")


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"type": "search", "item_id": None}, "query", "a search event needs a query"),
        ({"type": "search", "query": "  "}, "query", "a search event needs a query"),
        ({"item_id": None}, "item_id", "a view event needs an item_id"),
        ({"item_id": ""}, "item_id", "a view event needs an item_id"),
        ({"type": "purchase", "item_id": None}, "item_id", "a purchase event needs an item_id"),
        ({"type": "rating"}, "value", "a rating event needs a value"),
        ({"type": "rating", "value": float("nan")}, "value", "a rating event needs a value"),
        ({"type": "like"}, "type", "Input should be 'view', 'click', 'add_to_cart'"),
        ({"timestamp": None}, "timestamp", "Input should be a valid datetime"),
        ({"timestamp": "soon"}, "timestamp", "'soon' is neither ISO 8601"),
        ({"value": "lots"}, "value", "'lots' is not a number"),
        ({"value": "inf"}, "value", "Input should be a finite number"),
        ({"user_id": ""}, "user_id", "must not be empty"),
        ({"user_id": False}, "user_id", "not a boolean"),
        ({"session_id": {"a": 1}}, "session_id", "Input should be a valid string"),
        ({"shop": "x"}, "shop", "is not a known field"),
        ({"query": "drill\x00"}, "query", "contains a NUL character"),
    ],
)
def test_event_errors_name_the_field(changes: dict[str, object], field: str, reason: str) -> None:
    error = event_error({**EVENT, **changes})
    assert error.field == field
    assert reason in error.reason


@pytest.mark.parametrize("missing", ["user_id", "type", "timestamp"])
def test_event_required_fields(missing: str) -> None:
    record = {k: v for k, v in EVENT.items() if k != missing}
    error = event_error(record)
    assert (error.field, error.reason) == (missing, "is required")
    assert str(error) == f"field {missing!r}: is required"


def test_validation_error_locates_row_and_source() -> None:
    error = ValidationError("is required", field="title").at(row=7, source="items.csv")
    assert isinstance(error, ShelfError)
    assert str(error) == "items.csv, row 7, field 'title': is required"
    assert error.to_dict() == {
        "row": 7,
        "field": "title",
        "reason": "is required",
        "source": "items.csv",
    }
    assert error.status_code == 422
