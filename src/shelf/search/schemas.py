"""What a search is asked and what it answers: :class:`SearchRequest` is built once (by the
HTTP route, the CLI or a caller) and passed through; :class:`SearchResponse` comes back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from shelf.errors import from_pydantic
from shelf.search.filters import SearchFilters, SortOrder

MAX_PAGE_SIZE = 100


class SearchRequest(BaseModel):
    """One search: the query, filters, order, page, and who asks (personal answers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str = Field(description="The query; empty to browse.")
    filters: SearchFilters = Field(default_factory=SearchFilters)
    sort: SortOrder = SortOrder.RELEVANCE
    page: int = 1
    page_size: int = 20
    user_id: str | None = Field(default=None, description="Personalise for this user.")
    understand: bool = Field(
        default=True, description="Read price bounds, brands and attributes from the query."
    )
    apply_understood_filters: bool = Field(
        default=True, description="Understood price bounds become filters (else only boosts)."
    )

    @field_validator("page")
    @classmethod
    def _page(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("page_size")
    @classmethod
    def _page_size(cls, value: int) -> int:
        if not 1 <= value <= MAX_PAGE_SIZE:
            raise ValueError(f"must be between 1 and {MAX_PAGE_SIZE}")
        return value

    @field_validator("sort", mode="before")
    @classmethod
    def _sort(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {s.value for s in SortOrder}:
            raise ValueError(f"unknown sort {value!r}; one of {[s.value for s in SortOrder]}")
        return value

    @classmethod
    def checked(cls, **fields: Any) -> SearchRequest:
        """A request from ``fields``; a bad value raises shelf's ValidationError naming it."""
        try:
            return cls(**fields)
        except PydanticValidationError as exc:
            raise from_pydantic(exc) from None


class SearchHit(BaseModel):
    item_id: str
    score: float
    title: str
    brand: str | None = None
    price: float | None = None
    category: list[str] = Field(default_factory=list)
    available: bool = True
    reason: str


class SearchResponse(BaseModel):
    query: str
    understood: dict[str, Any]
    total: int
    page: int
    page_size: int
    sort: str
    ranker: str
    items: list[SearchHit]
    facets: dict[str, dict[str, int]]
    took_ms: float
    cached: bool = Field(
        default=False, description="Answered from the response cache (an identical request)."
    )
