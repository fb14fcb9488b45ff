"""Lax readers of field values, shared by files and HTTP bodies: ids, timestamps, category
paths, attributes, prices and booleans as shops export them (numbers as text, text as numbers).

Each raises ``ValueError`` with the reason; :mod:`shelf.catalog.types` turns that into a
:class:`~shelf.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, WithJsonSchema

from shelf.catalog.limits import (
    IMAGE_URL_SCHEMES,
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_ATTRIBUTE_VALUES,
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_TEXT,
    MAX_CATEGORY_DEPTH,
    MAX_CATEGORY_NAME_LENGTH,
    MAX_ID_LENGTH,
    MAX_IMAGE_URL_LENGTH,
)

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
    and ``|`` also separate); blank means no category. ValueError says what is wrong,
    including a path deeper than MAX_CATEGORY_DEPTH or a name longer than
    MAX_CATEGORY_NAME_LENGTH."""
    path = _read_category_path(value)
    if len(path) > MAX_CATEGORY_DEPTH:
        raise ValueError(f"at most {MAX_CATEGORY_DEPTH} levels deep, got {len(path)}")
    for name in path:
        if len(name) > MAX_CATEGORY_NAME_LENGTH:
            raise ValueError(
                f"a category name has at most {MAX_CATEGORY_NAME_LENGTH} characters, "
                f"got {len(name)} ({name[:40]!r}...)"
            )
    return path


def _read_category_path(value: Any) -> list[str]:
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
    # Counted before anything is done per attribute: 300,000 of them are refused at once.
    if len(value) > MAX_ATTRIBUTES:
        present = sum(v is not None for v in value.values())
        if present > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes, got {present}")
    # A null value is an absent attribute: a Parquet struct column holds every key in every row.
    value = {k: v for k, v in value.items() if v is not None}
    text = 0
    for name, item in value.items():
        if not isinstance(name, str):
            raise ValueError("attribute names must be strings")
        if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
            raise ValueError(
                f"an attribute name has at most {MAX_ATTRIBUTE_NAME_LENGTH} characters, "
                f"got {len(name)} ({name[:40]!r}...)"
            )
        text += len(name) + _attribute_text(name, item)
        if text > MAX_ATTRIBUTES_TEXT:
            raise ValueError(
                f"at most {MAX_ATTRIBUTES_TEXT} characters of attribute names and values in all"
            )
        # Checked here, so the error names the attribute, not pydantic's union members
        # ("attributes.watts.str: Input should be a valid string").
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{name!r} must be a finite number")
        if not isinstance(item, str | int | float | list) or (
            isinstance(item, list) and not all(isinstance(v, str) for v in item)
        ):
            raise ValueError(f"{name!r} must be a string, number, boolean or list of strings")
    return value


def _attribute_text(name: str, value: Any) -> int:
    """The characters of an attribute's text values; ValueError over a bound."""
    if isinstance(value, list):
        if len(value) > MAX_ATTRIBUTE_VALUES:
            raise ValueError(
                f"{name!r} has at most {MAX_ATTRIBUTE_VALUES} values, got {len(value)}"
            )
        return sum(_attribute_text(name, v) for v in value)
    if not isinstance(value, str):
        return 0
    if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
        raise ValueError(
            f"{name!r}: a value has at most {MAX_ATTRIBUTE_VALUE_LENGTH} characters, "
            f"got {len(value)}"
        )
    return len(value)


def parse_image_url(value: Any) -> Any:
    """An image URL: http(s) or relative (``/img/1.jpg``), at most MAX_IMAGE_URL_LENGTH
    characters. Other schemes (``javascript:``, ``data:``, ``file:``) are refused: the shop
    front puts the URL in a page."""
    value = parse_optional_text(check_length(value, MAX_IMAGE_URL_LENGTH))
    if not isinstance(value, str):
        return value
    value = value.strip()
    # Browsers drop tabs and newlines inside a URL ("java\tscript:"): none is accepted.
    if any(c < " " or c == "\x7f" for c in value):
        raise ValueError("must not contain control characters")
    try:
        scheme = urlsplit(value).scheme.lower()
    except ValueError:
        raise ValueError(f"{value[:80]!r} is not a URL") from None
    if scheme and scheme not in IMAGE_URL_SCHEMES:
        raise ValueError(f"must be an http(s) or a relative URL, not {scheme}:")
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


def optional_text(max_length: int) -> Callable[[Any], Any]:
    """A reader of optional text (numbers read as text) of at most ``max_length``
    characters."""

    def read(value: Any) -> Any:
        return parse_optional_text(check_length(value, max_length))

    return read


def check_length(value: Any, max_length: int) -> Any:
    """``value``, or ValueError if it is text longer than ``max_length``. Checked before
    blanks become None and text is stripped, as the JSON schema (``maxLength``) says."""
    if isinstance(value, str) and len(value) > max_length:
        raise ValueError(f"at most {max_length} characters, got {len(value)}")
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


def text_schema(max_length: int, *more: dict[str, Any]) -> WithJsonSchema:
    """The JSON schema of text of at most ``max_length`` characters (or ``more``)."""
    return WithJsonSchema({"anyOf": [{"type": "string", "maxLength": max_length}, *more]})


AttributeValue = str | int | float | bool | list[str]
