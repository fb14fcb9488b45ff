"""Lax readers of field values, shared by files and HTTP bodies: ids, timestamps, category
paths, attributes, prices and booleans as shops export them (numbers as text, text as numbers).

Each raises ``ValueError`` with the reason; :mod:`shelf.catalog.types` turns that into a
:class:`~shelf.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

MAX_ID_LENGTH = 256
CATEGORY_SEPARATORS = (">", "/", "|")
# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_EPOCH_MS_THRESHOLD = 1e11
# "1,299.50": commas only as thousands separators, in groups of three.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def or_default(value: Any, default: Any) -> Any:
    """``default`` for a missing or blank value; anything else is left for validation."""
    value = blank_to_none(value)
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


def parse_timestamp(value: Any) -> Any:
    value = blank_to_none(value)
    return None if value is None else to_utc(value)


def parse_identifier(value: Any) -> Any:
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


def split_category_path(text: str | None) -> list[str]:
    """The names of a category path typed as ``"A > B > C"`` (a filter or a prefix); blank
    parts are dropped, so ``None`` and ``""`` are the empty path."""
    return [p.strip() for p in (text or "").split(">") if p.strip()]


def parse_category_path(value: Any) -> list[str]:
    """A category path from a list of names, a JSON list or a ``"A > B > C"`` string (``/``
    and ``|`` also separate); blank means no category. ValueError says what is wrong."""
    value = blank_to_none(value)
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


def parse_attributes(value: Any) -> Any:
    value = blank_to_none(value)
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


def parse_price(value: Any) -> Any:
    value = blank_to_none(value)
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


def parse_boolean(value: Any) -> Any:
    value = blank_to_none(value)
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


def parse_optional_text(value: Any) -> Any:
    value = blank_to_none(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def parse_optional_number(value: Any) -> Any:
    value = blank_to_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    return value


# Integers are accepted as ids (CSV files and JSON clients send them) and kept as text.
ID_SCHEMA = {
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, {"type": "integer"}]
}
Identifier = Annotated[str, BeforeValidator(parse_identifier), WithJsonSchema(ID_SCHEMA)]
# Times: ISO 8601, or epoch seconds or milliseconds as a number or a numeric string.
TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
        {"type": "number", "minimum": 0},
    ]
}
OPTIONAL_TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [*TIME_SCHEMA["anyOf"], {"type": "string", "maxLength": 0}, {"type": "null"}]
}
# The JSON schemas below say what the lax readers really accept (files bring numbers as text
# and text as numbers), so that the OpenAPI document and the validation agree.
STRING, NUMBER, NULL = {"type": "string"}, {"type": "number"}, {"type": "null"}
OptionalText = Annotated[
    str | None,
    BeforeValidator(parse_optional_text),
    WithJsonSchema({"anyOf": [STRING, NUMBER, NULL]}),
]
AttributeValue = str | int | float | bool | list[str]
