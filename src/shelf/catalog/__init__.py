"""The domain types (Item, User, Event), their validation, and the texts items are embedded
from. The same models validate file rows and HTTP bodies, so both reject the same things."""

from shelf.catalog.fields import (
    CATEGORY_SEPARATORS,
    MAX_ID_LENGTH,
    AttributeValue,
    parse_category_path,
    split_category_path,
    to_utc,
)
from shelf.catalog.text import recommender_text, search_text
from shelf.catalog.types import Event, EventType, Item, User, parse_event, parse_item

__all__ = [
    "CATEGORY_SEPARATORS",
    "MAX_ID_LENGTH",
    "AttributeValue",
    "Event",
    "EventType",
    "Item",
    "User",
    "parse_category_path",
    "parse_event",
    "parse_item",
    "recommender_text",
    "search_text",
    "split_category_path",
    "to_utc",
]
