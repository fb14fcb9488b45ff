"""What the routes answer, as typed objects.

The same fields as the server's response schemas (``shelf.serve.schemas``,
``shelf.search.schemas``, the routes' own models), defined here so that ``import shelf.client``
loads neither the server nor the search stack; ``tests/client/test_models.py`` fails when the
two differ. Items come back as :class:`shelf.catalog.Item`, the type that is posted. Fields
a newer server adds are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shelf.catalog import Item

SortOrder = Literal["relevance", "price_asc", "price_desc", "newest", "popularity"]
KeyScope = Literal["search", "ingest", "admin"]


class Answer(BaseModel):
    """A route's answer: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Health(Answer):
    status: str
    version: str
    access: str = Field(description="'keys' (routes need API keys) or 'open' (loopback only).")
    training: dict[str, Any] | None = None
    notice: str | None = None


class SearchHit(Answer):
    item_id: str
    score: float
    title: str
    brand: str | None = None
    price: float | None = None
    category: list[str] = Field(default_factory=list)
    available: bool = True
    reason: str


class SearchResponse(Answer):
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
    cached: bool = False


class RecItem(Answer):
    item_id: str
    title: str | None = None
    score: float
    reason: str


class RecList(Answer):
    source: str = Field(
        description="What answered: personal, session, trending, popular, similar or "
        "bought_together."
    )
    model_version: str | None = None
    items: list[RecItem]


class ItemPage(Answer):
    items: list[Item]
    total: int
    offset: int
    limit: int


class ItemsAck(Answer):
    upserted: int


class EventsAck(Answer):
    received: int
    stored: int
    duplicates: int
    erased: int = 0


class ItemDeleted(Answer):
    item_id: str


class UserDeleted(Answer):
    events_deleted: int


class KeyInfo(Answer):
    """A key as listed: never the key itself."""

    name: str
    scope: str
    prefix: str
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None


class KeyCreated(Answer):
    key: str = Field(description="The new key; shown this once, stored only as a hash.")
    info: KeyInfo


class Erasure(Answer):
    user_key: str = Field(description="The erased user's pseudonym (never the raw id).")
    requested_ms: int
    retrain_by_ms: int
    completed_ms: int | None
    detail: dict[str, Any]


class Erasures(Answer):
    pending: list[Erasure]
    completed: list[Erasure]


# Envelopes unwrapped by the client: it returns their one field.
class ItemOut(Answer):
    item: Item


class KeyList(Answer):
    keys: list[KeyInfo]


class Stats(Answer):
    stats: dict[str, Any]


class Ack(Answer):
    ok: bool
