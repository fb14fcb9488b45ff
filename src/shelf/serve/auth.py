"""Who may call what: every route's scope in one table, checked for every request.

* With no API key in the store, shelf is open, but only to loopback clients addressing it by a
  loopback name (so a web page elsewhere cannot reach it through DNS rebinding), and says so.
* Once a key exists, every route but the public ones needs ``Authorization: Bearer KEY`` (or,
  for pages read with GET, the key an admin gave the login form, kept in an HttpOnly cookie):
  401 without a valid key, 403 with a key whose scope is too low.
* Requests are rate limited per key and per client (``limits``' moving window; 429 with
  ``Retry-After``). Loopback clients are not limited per client: a reverse proxy in front of
  shelf is a loopback client, and uvicorn reports the forwarded client in its place.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from shelf.errors import ShelfError
from shelf.serve.keys import KeyRing, Scope
from shelf.serve.shoppers import shopper_token_valid

PUBLIC = None  # needs no key
ROUTE_SCOPES: dict[tuple[str, str], Scope | None] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/"): PUBLIC,  # the shop's pages are shells: their data comes through the API
    ("GET", "/product/{item_id}"): PUBLIC,
    ("GET", "/for-you"): PUBLIC,
    ("POST", "/session"): PUBLIC,  # the login form: checks the key it is given
    ("GET", "/search"): Scope.SEARCH,
    ("GET", "/items"): Scope.SEARCH,
    ("GET", "/items/{item_id:path}"): Scope.SEARCH,
    ("GET", "/items/{item_id}/similar"): Scope.SEARCH,
    ("GET", "/items/{item_id}/bought-together"): Scope.SEARCH,
    ("GET", "/trending"): Scope.SEARCH,
    ("GET", "/users/{user_id}/recommendations"): Scope.SEARCH,
    ("POST", "/events"): Scope.SEARCH,  # a batch over SEARCH_EVENTS_MAX needs INGEST
    ("POST", "/items"): Scope.INGEST,
    ("DELETE", "/items/{item_id:item_path}"): Scope.INGEST,
    ("DELETE", "/users/{user_id}"): Scope.ADMIN,
    ("GET", "/erasures"): Scope.ADMIN,
    ("GET", "/stats"): Scope.ADMIN,
    ("GET", "/metrics"): Scope.ADMIN,
    ("GET", "/keys"): Scope.ADMIN,
    ("POST", "/keys"): Scope.ADMIN,
    ("DELETE", "/keys/{name}"): Scope.ADMIN,
    ("GET", "/admin"): Scope.ADMIN,
    ("GET", "/docs"): Scope.ADMIN,
    ("GET", "/redoc"): Scope.ADMIN,
    ("GET", "/openapi.json"): Scope.ADMIN,
}
PUBLIC_MOUNTS = ("/static", "/static-offline-docs")  # CSS, JS and the docs' own assets
SEARCH_EVENTS_MAX = 100  # events per POST a search key (a shopper's page) may send
COOKIE = "shelf_key"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class Unauthorized(ShelfError):
    status_code = 401


class Forbidden(ShelfError):
    status_code = 403


class TooManyRequests(ShelfError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the key's name and scope (None in open mode)."""

    key_name: str | None
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.scope >= Scope.ADMIN


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK_NAMES


class Gate:
    """The check every request passes: the route's scope, the caller's key, the limits."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        per_key: str | None,
        per_client: str | None,
        shopper_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.shopper_secret = shopper_secret
        self._clock = clock
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_key = parse(per_key) if per_key else None
        self._per_client = parse(per_client) if per_client else None

    @property
    def open(self) -> bool:
        return not self.keys.configured()

    def admit(self, request: Request, required: Scope | None) -> Caller:
        """The caller, or Unauthorized / Forbidden / TooManyRequests."""
        client = request.client.host if request.client else None
        if self.open:
            host = (request.headers.get("host") or "").rsplit(":", 1)[0]
            if not (is_loopback(client) and is_loopback(host)):
                raise Forbidden(
                    "shelf has no API keys yet and serves loopback clients only: "
                    "create one with `shelf keys create --scope admin`"
                )
            return Caller(None, Scope.ADMIN)
        caller = None
        key = self._presented(request)
        if key is not None:
            found = self.keys.check(key, int(self._clock() * 1000))
            if found is not None:
                caller = Caller(found.name, Scope.named(found.scope))
        if required is not None:
            if caller is None:
                raise Unauthorized(
                    "this route needs an API key: Authorization: Bearer KEY"
                    if key is None
                    else "the API key is unknown, revoked or expired"
                )
            if caller.scope < required:
                raise Forbidden(f"this route needs a key of scope {required.label} or above")
        if caller is not None:
            self._limit(self._per_key, f"key:{caller.key_name}")
        self._limit(self._per_client, f"client:{client}", skip=is_loopback(client))
        return caller or Caller(None, Scope.SEARCH)

    def speaks_for(self, caller: Caller, user_id: str, token: str | None) -> bool:
        """Whether the request may see what names ``user_id``'s history: an admin, or the
        shopper's own token."""
        return caller.is_admin or shopper_token_valid(
            self.shopper_secret, user_id, token, now=self._clock()
        )

    def _presented(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip() or None
        if request.method in ("GET", "HEAD"):  # pages a browser opens; never for writes
            return request.cookies.get(COOKIE)
        return None

    def _limit(self, item: object, key: str, *, skip: bool = False) -> None:
        if item is None or skip:
            return
        if not self._limiter.hit(item, key):  # type: ignore[arg-type]
            reset = self._limiter.get_window_stats(item, key).reset_time  # type: ignore[arg-type]
            wait = max(1, math.ceil(reset - self._clock()))
            raise TooManyRequests(f"rate limit exceeded; retry in {wait} s", retry_after=wait)


def route_scope(method: str, template: str) -> Scope | None:
    """The scope the route needs (HEAD as GET); KeyError for a route missing from the table."""
    return ROUTE_SCOPES[("GET" if method == "HEAD" else method, template)]


async def authorize(request: Request) -> None:
    """The app-wide dependency: admits the request or raises; the caller lands on
    ``request.state.caller``."""
    gate: Gate = request.app.state.gate
    route = request.scope.get("route")
    template = getattr(route, "path", "")
    try:
        required = route_scope(request.method, template)
    except KeyError:
        raise Forbidden("this route declares no scope") from None  # tests keep the table whole
    request.state.caller = gate.admit(request, required)
