"""The domain types: Item, User and Event, and their validation.

The same models validate rows from files and bodies of HTTP requests, so both paths reject the
same things with the same reasons. :func:`parse_item` and :func:`parse_event` turn pydantic's
errors into one :class:`~shelf.errors.ValidationError` naming the field and the reason.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
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

from shelf.errors import ValidationError

MAX_ID_LENGTH = 256
CATEGORY_SEPARATORS = (">", "/", "|")
# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_EPOCH_MS_THRESHOLD = 1e11
# "1,299.50": commas only as thousands separators, in groups of three.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


class EventType(StrEnum):
    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    RATING = "rating"
    SEARCH = "search"


def _blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _or_default(value: Any, default: Any) -> Any:
    """``default`` for a missing or blank value; anything else is left for validation."""
    value = _blank_to_none(value)
    return default if value is None else value


def to_utc(value: Any) -> datetime:
    """A timestamp as an aware UTC datetime: ISO 8601, or epoch seconds or milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before datetime.min in UTC
            raise ValueError(f"{value.isoformat()!r} is out of range for a timestamp") from None
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{value!r} is neither ISO 8601 nor epoch seconds/milliseconds"
                ) from None
            return to_utc(parsed)
        value = number
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a valid epoch time")
        seconds = value / 1000.0 if value > _EPOCH_MS_THRESHOLD else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for a timestamp") from None
    raise ValueError(f"cannot read a timestamp from {type(value).__name__}")


def _timestamp(value: Any) -> Any:
    value = _blank_to_none(value)
    return None if value is None else to_utc(value)


def _identifier(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a string or integer id, not a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        value = str(value)  # and checked as a string: 1e300 is not a 301-digit id
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(f"longer than {MAX_ID_LENGTH} characters")
        return value
    raise ValueError(f"must be a string id, got {type(value).__name__}")


def _category_path(value: Any) -> Any:
    value = _blank_to_none(value)
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("looks like a JSON list but does not parse") from None
        else:
            for sep in CATEGORY_SEPARATORS:
                if sep in text:
                    return [p.strip() for p in text.split(sep) if p.strip()]
            return [text]
    if isinstance(value, list | tuple):
        if not all(isinstance(p, str) for p in value):
            raise ValueError("category names must be strings")
        return [p.strip() for p in value if p.strip()]
    raise ValueError("must be a list of category names or a 'A > B > C' string")


def _attributes(value: Any) -> Any:
    value = _blank_to_none(value)
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("must be an object of attribute name to value")
    # A null value is an absent attribute: a Parquet struct column holds every key in every row.
    value = {k: v for k, v in value.items() if v is not None}
    for name, item in value.items():
        # Checked here, so the error names the attribute, not pydantic's union members
        # ("attributes.watts.str: Input should be a valid string").
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{name!r} must be a finite number")
        if not isinstance(item, str | int | float | list) or (
            isinstance(item, list) and not all(isinstance(v, str) for v in item)
        ):
            raise ValueError(f"{name!r} must be a string, number, boolean or list of strings")
    return value


def _price(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        for symbol in ("$", "€", "£", "¥"):
            text = text.replace(symbol, "")
        text = text.strip()
        if "," in text:
            # Only "1,299.50"; "1,5" or "1.299,50" (decimal comma) would silently be off by 1000x.
            if not _THOUSANDS.fullmatch(text):
                raise ValueError(
                    f"{value!r} is ambiguous: use '.' for decimals and ',' only between thousands"
                )
            text = text.replace(",", "")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    return value


def _boolean(value: Any) -> Any:
    value = _blank_to_none(value)
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes", "y", "t"}:
            return True
        if text in {"0", "false", "no", "n", "f"}:
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return value


def _optional_text(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _optional_number(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    return value


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


# Integers are accepted as ids (CSV files and JSON clients send them) and kept as text.
_ID_SCHEMA = {
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, {"type": "integer"}]
}
Identifier = Annotated[str, BeforeValidator(_identifier), WithJsonSchema(_ID_SCHEMA)]
# Times: ISO 8601, or epoch seconds or milliseconds as a number or a numeric string.
_TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
        {"type": "number", "minimum": 0},
    ]
}
_OPTIONAL_TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [*_TIME_SCHEMA["anyOf"], {"type": "string", "maxLength": 0}, {"type": "null"}]
}
# The JSON schemas below say what the lax readers really accept (files bring numbers as text
# and text as numbers), so that the OpenAPI document and the validation agree.
_STRING, _NUMBER, _NULL = {"type": "string"}, {"type": "number"}, {"type": "null"}
OptionalText = Annotated[
    str | None,
    BeforeValidator(_optional_text),
    WithJsonSchema({"anyOf": [_STRING, _NUMBER, _NULL]}),
]
AttributeValue = str | int | float | bool | list[str]


class Item(BaseModel):
    """A product of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: Identifier
    title: Annotated[
        str,
        Field(min_length=1, max_length=1000),
        WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, _NUMBER]}),
    ]
    description: Annotated[
        str,
        BeforeValidator(lambda v: _or_default(v, "")),
        WithJsonSchema({"anyOf": [_STRING, _NULL]}),
    ] = ""
    category: Annotated[
        list[str],
        BeforeValidator(_category_path),
        WithJsonSchema({"anyOf": [{"type": "array", "items": _STRING}, _STRING, _NULL]}),
    ] = Field(
        default_factory=list, description="Category path from the root, e.g. ['Tools', 'Drills']."
    )
    brand: OptionalText = None
    # Constraints sit on the float alone: on ``float | None`` they raise a TypeError on None.
    price: Annotated[
        Annotated[float, Field(ge=0, allow_inf_nan=False)] | None,
        BeforeValidator(_price),
        WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, _STRING, _NULL]}),
    ] = None
    currency: Annotated[
        str,
        BeforeValidator(lambda v: _or_default(v, "USD")),
        WithJsonSchema({"anyOf": [_STRING, _NULL]}),
    ] = "USD"
    attributes: Annotated[
        dict[str, AttributeValue],
        BeforeValidator(_attributes),
        WithJsonSchema({"anyOf": [{"type": "object"}, _STRING, _NULL]}),
    ] = Field(default_factory=dict)
    image_url: OptionalText = None
    available: Annotated[
        bool,
        BeforeValidator(_boolean),
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
        datetime | None, BeforeValidator(_timestamp), WithJsonSchema(_OPTIONAL_TIME_SCHEMA)
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
    """One thing a user did. ``user_id`` is the raw id; the store only sees its pseudonym."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[
        str | None,
        BeforeValidator(lambda v: _blank_to_none(v)),
        WithJsonSchema({"anyOf": [_STRING, {"type": "integer"}, _NULL]}),
    ] = None
    user_id: Identifier
    item_id: Annotated[
        str | None,
        BeforeValidator(lambda v: _identifier(v) if _blank_to_none(v) is not None else None),
        WithJsonSchema({"anyOf": [*_ID_SCHEMA["anyOf"], {"type": "null"}]}),
    ] = None
    type: EventType
    value: Annotated[
        Annotated[float, Field(allow_inf_nan=False)] | None,
        BeforeValidator(_optional_number),
        WithJsonSchema({"anyOf": [_NUMBER, _STRING, _NULL]}),
    ] = None
    timestamp: Annotated[datetime, BeforeValidator(_timestamp), WithJsonSchema(_TIME_SCHEMA)]
    session_id: OptionalText = None
    query: OptionalText = None

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

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


def _first_error(exc: PydanticValidationError) -> ValidationError:
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error["loc"]) or None
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if field is None and ": " in message:
        # Model-level checks name their field as "field: reason".
        field, message = message.split(": ", 1)
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a known field"
    return ValidationError(message, field=field)


def parse_item(record: dict[str, Any]) -> Item:
    """An :class:`Item` from a raw record, or a :class:`ValidationError` naming the field."""
    try:
        return Item.model_validate(record)
    except PydanticValidationError as exc:
        raise _first_error(exc) from None


def parse_event(record: dict[str, Any]) -> Event:
    """An :class:`Event` from a raw record, or a :class:`ValidationError` naming the field."""
    try:
        return Event.model_validate(record)
    except PydanticValidationError as exc:
        raise _first_error(exc) from None
