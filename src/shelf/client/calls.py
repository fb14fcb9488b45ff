"""Every route of the HTTP API, described once: a function per route builds the request (a
:class:`Call`) and names how its answer is read. :class:`~shelf.client.Client` and
:class:`~shelf.client.AsyncClient` both turn these functions into their methods, so the two
cannot differ in a route, a parameter or a parsed field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shelf.catalog import Event, Item
from shelf.client.errors import decode_json, unexpected
from shelf.client.models import (
    Ack,
    Erasures,
    EventsAck,
    Health,
    ItemDeleted,
    ItemOut,
    ItemPage,
    ItemsAck,
    KeyCreated,
    KeyInfo,
    KeyList,
    KeyScope,
    RecList,
    SearchResponse,
    SortOrder,
    Stats,
    UserDeleted,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Param = tuple[str, str | int | float | bool | None]
SHOPPER_TOKEN_HEADER = "X-Shopper-Token"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to send and how to read its answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: list[Param] = field(default_factory=list)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, str] | None = None  # what a 404 means: (kind, key)


ROUTES: dict[tuple[str, str], Callable[..., Call[Any]]] = {}
"""(method, route template as in ``shelf.serve.auth.ROUTE_SCOPES``) -> its builder."""


def route(method: str, template: str) -> Callable[[Callable[..., Call[T]]], Callable[..., Call[T]]]:
    def register(build: Callable[..., Call[T]]) -> Callable[..., Call[T]]:
        ROUTES[(method, template)] = build
        return build

    return register


# -- reading answers ---------------------------------------------------------------------------
def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    def read(response: httpx.Response) -> M:
        try:
            return model.model_validate(decode_json(response))
        except PydanticValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"]) or "body"
            raise unexpected(response, f"{where}: {problem['msg']}") from None

    return read


def _unwrap(model: type[M], pick: Callable[[M], T]) -> Callable[[httpx.Response], T]:
    read = _model(model)
    return lambda response: pick(read(response))


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = decode_json(response)
    if not isinstance(body, dict):
        raise unexpected(response, f"a JSON {type(body).__name__}, not an object")
    return body


def _text(response: httpx.Response) -> str:
    return response.text


# -- building requests -------------------------------------------------------------------------
def _segment(value: str, name: str) -> str:
    """``value`` as one path segment: every reserved character escaped, and "." and ".."
    too, which URL normalisation would otherwise resolve away."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if set(value) == {"."} else escaped


def _strings(values: Sequence[str], name: str) -> list[str]:
    """A list parameter; a bare string (a sequence of letters) is refused."""
    if isinstance(values, str):
        raise TypeError(f"{name} takes a list of strings, not the string {values!r}: [{values!r}]")
    return list(values)


def _optional(**values: str | float | bool | None) -> list[Param]:
    return [(k, v) for k, v in values.items() if v is not None]


def _rows(values: Sequence[Any], kind: type[BaseModel], name: str) -> list[dict[str, Any]]:
    """A batch as JSON; each row must already be ``kind`` (validated where it was built)."""
    if isinstance(values, BaseModel | Mapping | str):
        raise TypeError(f"{name} takes a list of {kind.__name__}s, not one {type(values).__name__}")
    rows = []
    for number, value in enumerate(values, start=1):
        if not isinstance(value, kind):
            raise TypeError(
                f"{name}: row {number} is a {type(value).__name__}, not an {kind.__name__}: "
                f"build it with {kind.__name__}.model_validate(row)"
            )
        rows.append(value.model_dump(mode="json", exclude_none=True))
    if not rows:
        raise ValueError(f"{name} is empty: a batch needs at least one row")
    return rows


# -- the routes --------------------------------------------------------------------------------
@route("GET", "/health")
def health() -> Call[Health]:
    """Liveness: the version, and whether the service needs keys (``access``)."""
    return Call("GET", "/health", _model(Health))


@route("GET", "/search")
def search(
    q: str = "",
    *,
    category: str | None = None,
    brands: Sequence[str] = (),
    price_min: float | None = None,
    price_max: float | None = None,
    available: bool | None = None,
    attributes: Mapping[str, Sequence[str]] | None = None,
    sort: SortOrder = "relevance",
    page: int = 1,
    page_size: int = 20,
    user_id: str | None = None,
    understand: bool = True,
) -> Call[SearchResponse]:
    """Search the catalog: ``category`` is a path prefix ('Tools > Drills'), ``brands`` any
    of these, ``attributes`` maps a name to the values wanted; ``understand=False`` reads
    nothing (price bounds, brands) from the query itself."""
    params: list[Param] = [("q", q)]
    params += [("brand", b) for b in _strings(brands, "brands")]
    for name, wanted in (attributes or {}).items():
        params += [("attr", f"{name}:{v}") for v in _strings(wanted, f"attributes[{name!r}]")]
    params += _optional(
        category=category, price_min=price_min, price_max=price_max, available=available,
        user_id=user_id,
    )  # fmt: skip
    params += [("sort", sort), ("page", page), ("page_size", page_size)]
    params.append(("understand", understand))
    return Call("GET", "/search", _model(SearchResponse), params)


@route("GET", "/items")
def list_items(
    offset: int = 0, limit: int = 50, *, category: str | None = None, brand: str | None = None
) -> Call[ItemPage]:
    """Items in id order, optionally under a category path prefix or of one brand."""
    params = [("offset", offset), ("limit", limit), *_optional(category=category, brand=brand)]
    return Call("GET", "/items", _model(ItemPage), params)


@route("GET", "/items/{item_id:path}")
def get_item(item_id: str) -> Call[Item]:
    """One item by id (:class:`shelf.errors.NotFoundError` when there is none)."""
    path = f"/items/{_segment(item_id, 'item_id')}"
    return Call("GET", path, _unwrap(ItemOut, lambda o: o.item), missing=("item", item_id))


@route("POST", "/items")
def post_items(items: Sequence[Item]) -> Call[ItemsAck]:
    """Upsert a batch of items by id, all or none (at most 10,000 per call)."""
    return Call("POST", "/items", _model(ItemsAck), json={"items": _rows(items, Item, "items")})


@route("DELETE", "/items/{item_id:item_path}")
def delete_item(item_id: str) -> Call[ItemDeleted]:
    """Delete an item from the store, search and recommendations (its events stay)."""
    path = f"/items/{_segment(item_id, 'item_id')}"
    return Call("DELETE", path, _model(ItemDeleted), missing=("item", item_id))


@route("POST", "/events")
def post_events(events: Sequence[Event]) -> Call[EventsAck]:
    """Append a batch of events, all or none; answers once they are durably stored. A
    search key may post at most 100 at once."""
    body = {"events": _rows(events, Event, "events")}
    return Call("POST", "/events", _model(EventsAck), json=body)


@route("GET", "/users/{user_id}/recommendations")
def recommend(
    user_id: str,
    n: int = 10,
    *,
    exclude: Sequence[str] = (),
    category: str | None = None,
    include_bought: bool = False,
    shopper_token: str | None = None,
) -> Call[RecList]:
    """For-you recommendations; ``source`` names the step of the fallback chain that
    answered. Reasons naming the shopper's history need an admin key or ``shopper_token``
    (this call's, else the client's)."""
    excluded = _strings(exclude, "exclude")
    if any("," in e for e in excluded):
        raise ValueError(f"exclude: an item id with a comma cannot be excluded: {excluded}")
    params: list[Param] = [("n", n), ("include_bought", include_bought)]
    if excluded:
        params.append(("exclude", ",".join(excluded)))
    params += _optional(category=category)
    headers = {SHOPPER_TOKEN_HEADER: shopper_token} if shopper_token else {}
    path = f"/users/{_segment(user_id, 'user_id')}/recommendations"
    return Call("GET", path, _model(RecList), params, headers=headers)


@route("GET", "/items/{item_id}/similar")
def similar_items(item_id: str, n: int = 10) -> Call[RecList]:
    """Items similar to this one."""
    path = f"/items/{_segment(item_id, 'item_id')}/similar"
    return Call("GET", path, _model(RecList), [("n", n)], missing=("item", item_id))


@route("GET", "/items/{item_id}/bought-together")
def bought_together(item_id: str, n: int = 10) -> Call[RecList]:
    """Items frequently bought together with this one."""
    path = f"/items/{_segment(item_id, 'item_id')}/bought-together"
    return Call("GET", path, _model(RecList), [("n", n)], missing=("item", item_id))


@route("GET", "/trending")
def trending(n: int = 10, *, category: str | None = None) -> Call[RecList]:
    """Trending items (time-decayed popularity), optionally within a category."""
    return Call("GET", "/trending", _model(RecList), [("n", n), *_optional(category=category)])


@route("DELETE", "/users/{user_id}")
def delete_user(user_id: str) -> Call[UserDeleted]:
    """Erase a user (admin): events and counts at once, trained models by the deadline."""
    path = f"/users/{_segment(user_id, 'user_id')}"
    return Call("DELETE", path, _model(UserDeleted), missing=("user", user_id))


@route("GET", "/erasures")
def erasures() -> Call[Erasures]:
    """Erasures pending (trained models still to rebuild) and completed (admin)."""
    return Call("GET", "/erasures", _model(Erasures))


@route("GET", "/keys")
def list_keys() -> Call[list[KeyInfo]]:
    """The API keys: names, scopes, prefixes, expiry, revocation; never a key (admin)."""
    return Call("GET", "/keys", _unwrap(KeyList, lambda o: o.keys))


@route("POST", "/keys")
def create_key(
    name: str, scope: KeyScope, *, expires_days: float | None = None
) -> Call[KeyCreated]:
    """A new key of ``scope``; its value is in this answer only (admin)."""
    body: dict[str, Any] = {"name": name, "scope": scope}
    if expires_days is not None:
        body["expires_days"] = expires_days
    return Call("POST", "/keys", _model(KeyCreated), json=body)


@route("DELETE", "/keys/{name}")
def revoke_key(name: str) -> Call[None]:
    """Revoke a key: every serving process refuses it within a second (admin)."""
    path = f"/keys/{_segment(name, 'name')}"
    return Call("DELETE", path, _unwrap(Ack, lambda _: None), missing=("key", name))


@route("GET", "/stats")
def stats() -> Call[dict[str, Any]]:
    """Counts of items, users and events by type; the serving models (admin)."""
    return Call("GET", "/stats", _unwrap(Stats, lambda o: o.stats))


@route("GET", "/metrics")
def metrics() -> Call[str]:
    """The Prometheus metrics, as text (admin)."""
    return Call("GET", "/metrics", _text)


@route("GET", "/openapi.json")
def openapi() -> Call[dict[str, Any]]:
    """The OpenAPI schema of the service (admin)."""
    return Call("GET", "/openapi.json", _json_object)
