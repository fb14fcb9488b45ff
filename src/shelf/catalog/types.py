"""The domain types: Item, User and Event, and their validation.

The same models validate rows from files and bodies of HTTP requests, so both paths reject the
same things with the same reasons. :func:`parse_item` and :func:`parse_event` turn pydantic's
errors into one :class:`~shelf.errors.ValidationError` naming the field and the reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from shelf.catalog.fields import (
    ID_SCHEMA,
    NULL,
    NUMBER,
    OPTIONAL_TIME_SCHEMA,
    STRING,
    TIME_SCHEMA,
    AttributeValue,
    Identifier,
    blank_to_none,
    check_length,
    optional_text,
    or_default,
    parse_attributes,
    parse_boolean,
    parse_category_path,
    parse_identifier,
    parse_image_url,
    parse_optional_number,
    parse_price,
    parse_timestamp,
    text_schema,
)
from shelf.catalog.limits import (
    MAX_BRAND_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_EVENT_ID_LENGTH,
    MAX_IMAGE_URL_LENGTH,
    MAX_QUERY_LENGTH,
    MAX_SESSION_ID_LENGTH,
    MAX_TITLE_LENGTH,
)
from shelf.errors import from_pydantic


class EventType(StrEnum):
    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    RATING = "rating"
    SEARCH = "search"


def _bad_text(value: Any) -> str | None:
    """Why a string (or the strings inside a list or dict) cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "is not valid Unicode (it holds an unpaired surrogate)"
    elif isinstance(value, list | tuple):
        for part in value:
            if reason := _bad_text(part):
                return reason
    elif isinstance(value, dict):
        for key, part in value.items():
            if reason := _bad_text(key) or _bad_text(part):
                return reason
    return None


_NOT_TEXT = frozenset({int, float, bool, datetime, EventType})


def _storable_text(model: BaseModel) -> None:
    """Reject text that neither backend can store (PostgreSQL refuses NUL; UTF-8 surrogates)."""
    # The instance dict, not ``iter(model)``: this runs on every imported row.
    for name, value in model.__dict__.items():
        if value is None or value.__class__ in _NOT_TEXT:
            continue
        if reason := _bad_text(value):
            raise ValueError(f"{name}: {reason}")


def _description(value: Any) -> Any:
    return or_default(check_length(value, MAX_DESCRIPTION_LENGTH), "")


def _event_id(value: Any) -> Any:
    value = blank_to_none(check_length(value, MAX_EVENT_ID_LENGTH))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class Item(BaseModel):
    """A product of the catalog. Every field is bounded (:mod:`shelf.catalog.limits`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: Identifier
    title: Annotated[
        str,
        Field(min_length=1, max_length=MAX_TITLE_LENGTH),
        WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, NUMBER]}),
    ]
    description: Annotated[
        str,
        BeforeValidator(_description),
        text_schema(MAX_DESCRIPTION_LENGTH, NULL),
    ] = ""
    category: Annotated[
        list[str],
        BeforeValidator(parse_category_path),
        WithJsonSchema({"anyOf": [{"type": "array", "items": STRING}, STRING, NULL]}),
    ] = Field(
        default_factory=list, description="Category path from the root, e.g. ['Tools', 'Drills']."
    )
    brand: Annotated[
        str | None,
        BeforeValidator(optional_text(MAX_BRAND_LENGTH)),
        text_schema(MAX_BRAND_LENGTH, NUMBER, NULL),
    ] = None
    # Constraints sit on the float alone: on ``float | None`` they raise a TypeError on None.
    price: Annotated[
        Annotated[float, Field(ge=0, allow_inf_nan=False)] | None,
        BeforeValidator(parse_price),
        WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, STRING, NULL]}),
    ] = None
    currency: Annotated[
        str,
        BeforeValidator(lambda v: or_default(v, "USD")),
        WithJsonSchema({"anyOf": [STRING, NULL]}),
    ] = "USD"
    attributes: Annotated[
        dict[str, AttributeValue],
        BeforeValidator(parse_attributes),
        WithJsonSchema({"anyOf": [{"type": "object"}, STRING, NULL]}),
    ] = Field(default_factory=dict)
    image_url: Annotated[
        str | None,
        BeforeValidator(parse_image_url),
        text_schema(MAX_IMAGE_URL_LENGTH, NUMBER, NULL),
    ] = Field(default=None, description="An http(s) URL, or one relative to the shop's.")
    available: Annotated[
        bool,
        BeforeValidator(parse_boolean),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "boolean"},
                    {"type": "integer", "enum": [0, 1]},
                    {"type": "string"},
                    {"type": "null"},
                ]
            }
        ),
    ] = True
    created_at: Annotated[
        datetime | None, BeforeValidator(parse_timestamp), WithJsonSchema(OPTIONAL_TIME_SCHEMA)
    ] = None

    @field_validator("title", mode="before")
    @classmethod
    def _strip_title(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            value = value.strip()
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError("must be a 3-letter ISO 4217 code such as USD")
        return code

    @model_validator(mode="after")
    def _text(self) -> Item:
        _storable_text(self)
        return self

    @property
    def category_path(self) -> str:
        return " > ".join(self.category)


class User(BaseModel):
    """A shopper, known to the store only by a pseudonymous key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: Identifier


class Event(BaseModel):
    """One thing a user did. ``user_id`` is the raw id; the store only sees its pseudonym.
    Its text fields are bounded as the store's columns are (:mod:`shelf.catalog.limits`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[
        str | None,
        BeforeValidator(_event_id),
        text_schema(MAX_EVENT_ID_LENGTH, {"type": "integer"}, NULL),
    ] = None
    user_id: Identifier
    item_id: Annotated[
        str | None,
        BeforeValidator(lambda v: parse_identifier(v) if blank_to_none(v) is not None else None),
        WithJsonSchema({"anyOf": [*ID_SCHEMA["anyOf"], {"type": "null"}]}),
    ] = None
    type: EventType
    value: Annotated[
        Annotated[float, Field(allow_inf_nan=False)] | None,
        BeforeValidator(parse_optional_number),
        WithJsonSchema({"anyOf": [NUMBER, STRING, NULL]}),
    ] = None
    timestamp: Annotated[datetime, BeforeValidator(parse_timestamp), WithJsonSchema(TIME_SCHEMA)]
    session_id: Annotated[
        str | None,
        BeforeValidator(optional_text(MAX_SESSION_ID_LENGTH)),
        text_schema(MAX_SESSION_ID_LENGTH, NUMBER, NULL),
    ] = None
    query: Annotated[
        str | None,
        BeforeValidator(optional_text(MAX_QUERY_LENGTH)),
        text_schema(MAX_QUERY_LENGTH, NUMBER, NULL),
    ] = None

    @model_validator(mode="after")
    def _text(self) -> Event:
        _storable_text(self)
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Event:
        if self.type is EventType.SEARCH:
            if not self.query:
                raise ValueError("query: a search event needs a query")
        elif self.item_id is None:
            raise ValueError(f"item_id: a {self.type.value} event needs an item_id")
        if self.type is EventType.RATING and self.value is None:
            raise ValueError("value: a rating event needs a value")
        return self


def parse_item(record: dict[str, Any]) -> Item:
    """An :class:`Item` from a raw record, or a :class:`ValidationError` naming the field."""
    try:
        return Item.model_validate(record)
    except PydanticValidationError as exc:
        raise from_pydantic(exc) from None


def parse_event(record: dict[str, Any]) -> Event:
    """An :class:`Event` from a raw record, or a :class:`ValidationError` naming the field."""
    try:
        return Event.model_validate(record)
    except PydanticValidationError as exc:
        raise from_pydantic(exc) from None
