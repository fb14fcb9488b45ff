"""The exception tree of shelf.

Every error shelf raises on purpose derives from :class:`ShelfError` and carries its context::

    ShelfError
    ├── ConfigError                 a setting is missing or invalid
    ├── ValidationError             one record is invalid (row, field, reason)
    ├── ImportRejected              a file had invalid rows; nothing was stored
    ├── NotFoundError               an item, user or model does not exist
    ├── StoreError                  the durable store failed or is unreachable
    ├── ServiceUnavailable          search or recommendations are not built or trained yet
    ├── NotFittedError              a model was used before ``fit``
    └── ArtifactError               a model artifact is missing, corrupt or incompatible
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError


class ShelfError(Exception):
    """Base class of every error shelf raises on purpose."""

    status_code = 500


class ConfigError(ShelfError):
    """A setting is missing or invalid."""

    status_code = 500


class ValidationError(ShelfError):
    """One record is invalid. Names the source, the row (1-based), the field and the reason."""

    status_code = 422

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        row: int | None = None,
        source: str | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.row = row
        self.source = source
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.source is not None:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def at(self, *, row: int | None = None, source: str | None = None) -> ValidationError:
        """The same error located at ``row`` of ``source``."""
        return ValidationError(
            self.reason,
            field=self.field,
            row=row if row is not None else self.row,
            source=source if source is not None else self.source,
        )

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "reason": self.reason, "source": self.source}


@dataclass(frozen=True)
class Rejection:
    """One rejected row of an import."""

    row: int
    field: str | None
    reason: str


class ImportRejected(ShelfError):
    """A file had invalid rows and, as asked, nothing from it was stored."""

    status_code = 422

    def __init__(self, source: str, rejections: Sequence[Rejection], total_invalid: int) -> None:
        self.source = source
        self.rejections = list(rejections)
        self.total_invalid = total_invalid
        lines = [
            f"{source}: {total_invalid} invalid row(s); nothing was imported "
            "(use --skip-invalid to import the valid rows)."
        ]
        for r in self.rejections:
            field = f"field {r.field!r}: " if r.field else ""
            lines.append(f"  row {r.row}: {field}{r.reason}")
        if total_invalid > len(self.rejections):
            lines.append(f"  ... and {total_invalid - len(self.rejections)} more")
        super().__init__("\n".join(lines))


class NotFoundError(ShelfError):
    """An item, user or model does not exist."""

    status_code = 404

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class StoreError(ShelfError):
    """The durable store failed or is unreachable."""

    status_code = 503


class ServiceUnavailable(ShelfError):
    """A service the request needs is not built or trained yet."""

    status_code = 503


class NotFittedError(ShelfError):
    """A model was used before ``fit``."""

    status_code = 503

    def __init__(self, model: str) -> None:
        super().__init__(f"{model} is not fitted: call fit() first")


class ArtifactError(ShelfError):
    """A model artifact is missing, corrupt or incompatible."""

    status_code = 500


def pydantic_problem(error: Mapping[str, Any], *, skip: int = 0) -> tuple[str | None, str]:
    """``(field, reason)`` of one pydantic error, in shelf's words; ``skip`` drops that many
    leading location parts (FastAPI's ``body``/``query``)."""
    loc = [str(p) for p in list(error.get("loc", ()))[skip:]]
    field = ".".join(loc) or None
    reason = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        reason = reason.removeprefix(prefix)
    if field is None and ": " in reason:
        # Model-level checks name their field as "field: reason".
        field, reason = reason.split(": ", 1)
    kind = error.get("type")
    if kind == "missing":
        reason = "is required"
    elif kind == "extra_forbidden":
        reason = "is not a known field"
    return field, reason


def from_pydantic(exc: PydanticValidationError) -> ValidationError:
    """The first problem of a pydantic validation error as a :class:`ValidationError`."""
    field, reason = pydantic_problem(exc.errors(include_url=False)[0])
    return ValidationError(reason, field=field)
