"""Seeded shoppers' events over a catalog: sessions of searches, views, clicks, carts,
purchases and ratings that a trained model can learn from.

Each shopper (see :mod:`shelf.synthetic.shoppers`) shops in sessions spread over the period.
A session is about one product type: of a favourite department most of the time, picked by the
shopper's type preferences. Some sessions start with a search built from the item the shopper
has in mind, and the results they open mostly match it. Items are drawn by popularity
(Zipf-like within a type) times the shopper's brand affinity and price sensitivity. Items put in
the cart pull in a complement (pan -> spatula, often of the same brand); consumables are bought
again when they run out; some purchases are rated a few days later. The shoppers' streams are
merged by time, so events come out in time order.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shelf.synthetic.queries import QuerySpec, matches, query_for, query_text
from shelf.synthetic.shop import Shop, ShopItem, index_shop
from shelf.synthetic.shoppers import Shopper, draw_shopper, user_ids

ZIPF_EXPONENT = 1.1
EXPLORE = 0.06  # sessions in a department outside the favourites
SEARCH = 0.35
SWITCH_TYPE = 0.12  # a view moves to another type of the same department
MEAN_VIEWS = 4.0
MAX_VIEWS = 15
CLICK_AFTER_SEARCH = 0.6
CLICK_WHILE_BROWSING = 0.15
CART = 0.08
FAVOURITE_BRAND = 3.0  # weight and cart multiplier of a favourite brand
SEARCH_MATCH = 8.0  # weight multiplier of results that match the query
COMPLEMENT = 0.6
SAME_BRAND_COMPLEMENT = 3.0
COMPLEMENT_CART = 0.85
REMOVE = 0.1
CHECKOUT = 0.6
REPLENISH = 0.75
KEEP_BROWSING = 0.3
RATE = 0.3
RATING_DELAY_DAYS = (2, 10)
UNAVAILABLE_VIEWS = 0.1
SESSION_GAP_MS = 30 * 60 * 1000
# Relative traffic by hour of day (UTC): quiet nights, a lunch bump, busy evenings.
HOURS = (2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 8, 9, 8, 7, 7, 7, 8, 9, 11, 12, 11, 8, 4)


class _Market:
    """What all shoppers share: item popularity, price position and quality."""

    def __init__(self, shop: Shop, seed: int) -> None:
        rng = random.Random(f"shelf.synthetic.market/{seed}")
        n = len(shop.items)
        self.shop = shop
        self.popularity = [0.0] * n
        self.price_z = [0.0] * n
        self.quality = [rng.gauss(0.0, 0.6) for _ in range(n)]
        for indices in shop.by_type.values():
            ranked = list(indices)
            rng.shuffle(ranked)
            for rank, i in enumerate(ranked):
                self.popularity[i] = 1.0 / (rank + 1) ** ZIPF_EXPONENT
            logs = [math.log(max(shop.items[i].price, 0.01)) for i in indices]
            mean = sum(logs) / len(logs)
            std = math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs)) or 1.0
            for i, x in zip(indices, logs, strict=True):
                self.price_z[i] = (x - mean) / std


class _Taste:
    """One shopper's weights over the items of each type, computed when first needed."""

    def __init__(self, market: _Market, shopper: Shopper) -> None:
        self.market = market
        self.shopper = shopper
        self.brands = set(shopper.brands)
        self.owned: set[int] = set()  # durable goods bought already: not bought twice
        self._weights: dict[str, list[float]] = {}

    def weights(self, kind: str) -> list[float]:
        if kind not in self._weights:
            m, s = self.market, self.shopper.price_sensitivity
            self._weights[kind] = [
                m.popularity[i]
                * (FAVOURITE_BRAND if m.shop.items[i].brand in self.brands else 1.0)
                * math.exp(-1.5 * s * m.price_z[i])
                * (1.0 if m.shop.items[i].available else UNAVAILABLE_VIEWS)
                for i in m.shop.by_type[kind]
            ]
        return self._weights[kind]

    def pick(
        self, kind: str, rng: random.Random, boost: Callable[[ShopItem], float] | None = None
    ) -> ShopItem:
        """An item of ``kind``; ``boost(item) -> factor`` reweights it (search results)."""
        items = self.market.shop.items
        indices = self.market.shop.by_type[kind]
        weights = self.weights(kind)
        if boost is not None:
            weights = [w * boost(items[i]) for w, i in zip(weights, indices, strict=True)]
        return items[rng.choices(indices, weights)[0]]

    def cart_odds(self, item: ShopItem) -> float:
        if item.row in self.owned or not item.available:
            return 0.0
        s = self.shopper.price_sensitivity
        odds = CART * math.exp(-s * self.market.price_z[item.row])
        if item.brand in self.brands:
            odds *= FAVOURITE_BRAND
        return min(max(odds, 0.02), 0.6)


class _Session:
    """Events of one session on a millisecond clock."""

    def __init__(self, user_id: str, session_id: str, clock_ms: int) -> None:
        self.user_id, self.session_id, self.clock = user_id, session_id, clock_ms
        self.events: list[tuple[int, dict[str, Any]]] = []

    def emit(
        self,
        kind: str,
        item: ShopItem | None,
        gap_ms: int,
        *,
        value: float | None = None,
        query: str | None = None,
    ) -> None:
        self.clock += max(gap_ms, 1)
        self.events.append(
            (
                self.clock,
                {
                    "event_id": None,
                    "user_id": self.user_id,
                    "item_id": item.item_id if item else None,
                    "type": kind,
                    "value": value,
                    "timestamp": None,
                    "session_id": self.session_id,
                    "query": query,
                },
            )
        )


def _gap(rng: random.Random, median_s: float, sigma: float = 0.8) -> int:
    return int(1000 * median_s * math.exp(rng.gauss(0.0, sigma))) + 1000


def _intent(taste: _Taste, rng: random.Random) -> str:
    """The product type a session is about."""
    shop, shopper = taste.market.shop, taste.shopper
    if rng.random() < EXPLORE or not shopper.departments:
        department = rng.choice(shop.departments)
        return rng.choice(shop.department_types(department))
    department = rng.choices(shopper.departments, shopper.department_weights)[0]
    keys = shop.department_types(department)
    return rng.choices(keys, [shopper.type_weights.get(k, 1e-3) for k in keys])[0]


def _add_to_cart(
    session: _Session, taste: _Taste, item: ShopItem, cart: list[ShopItem], rng: random.Random
) -> None:
    """Cart ``item``; maybe go and find one of its complements too."""
    session.emit("add_to_cart", item, _gap(rng, 15))
    cart.append(item)
    present = [k for k in item.kind.complements if k in taste.market.shop.by_type]
    if not present or rng.random() >= COMPLEMENT:
        return
    kind = rng.choice(present)
    other = taste.pick(kind, rng, lambda x: SAME_BRAND_COMPLEMENT if x.brand == item.brand else 1.0)
    session.emit("view", other, _gap(rng, 25))
    if other not in cart and taste.cart_odds(other) > 0 and rng.random() < COMPLEMENT_CART:
        session.emit("add_to_cart", other, _gap(rng, 15))
        cart.append(other)


def _browse(
    session: _Session, taste: _Taste, kind: str, cart: list[ShopItem], rng: random.Random
) -> None:
    """Optionally search, then view (and maybe cart) items of ``kind``."""
    shop = taste.market.shop
    spec: QuerySpec | None = None
    query = None
    if rng.random() < SEARCH:
        target = taste.pick(kind, rng)
        s = taste.shopper.price_sensitivity
        spec = query_for(target, shop, rng, bound=0.1 + 0.4 * s)
        query = query_text(spec, shop)
        session.emit("search", None, _gap(rng, 5), query=query)

    def found(item: ShopItem) -> float:
        return SEARCH_MATCH if spec is not None and matches(spec, item, shop) else 1.0

    n_views = min(1 + int(rng.expovariate(1.0 / (MEAN_VIEWS - 1))), MAX_VIEWS)
    for _ in range(n_views):
        if spec is not None and kind == spec.kind:
            item = taste.pick(kind, rng, found)
            if rng.random() < CLICK_AFTER_SEARCH:
                session.emit("click", item, _gap(rng, 8), query=query)
        else:
            item = taste.pick(kind, rng)
            if rng.random() < CLICK_WHILE_BROWSING:
                session.emit("click", item, _gap(rng, 20))
        session.emit("view", item, _gap(rng, 3, 0.5))
        if item not in cart and rng.random() < taste.cart_odds(item):
            _add_to_cart(session, taste, item, cart, rng)
        if rng.random() < SWITCH_TYPE:
            siblings = shop.department_types(shop.types[kind].department)
            kind = rng.choices(
                siblings, [taste.shopper.type_weights.get(k, 0.3) for k in siblings]
            )[0]
        session.clock += _gap(rng, 30)


def _session_starts(rng: random.Random, shopper: Shopper, start_ms: int, days: int) -> list[int]:
    """When the shopper's sessions begin: about ``activity`` a week, by the hour profile."""
    mean = shopper.activity * days / 7
    n_sessions = min(max(1, round(rng.gauss(mean, math.sqrt(mean)))), 6 * days)
    return sorted(
        start_ms
        + rng.randrange(days) * 86_400_000
        + rng.choices(range(24), HOURS)[0] * 3_600_000
        + rng.randrange(3_600_000)
        for _ in range(n_sessions)
    )


class _Household:
    """What a shopper carries between sessions: consumables running out, purchases to rate."""

    def __init__(self, taste: _Taste, rng: random.Random) -> None:
        self.taste, self.rng = taste, rng
        self.pantry: dict[int, int] = {}  # item row -> when it runs out
        self.to_rate: list[tuple[int, ShopItem]] = []  # (when, item)

    def rate(self, session: _Session) -> None:
        """Rate the purchases whose time has come."""
        due = [(when, item) for when, item in self.to_rate if when <= session.clock]
        self.to_rate = [(when, item) for when, item in self.to_rate if when > session.clock]
        for _, item in due:
            bonus = 0.5 if item.brand in self.taste.brands else 0.0
            quality = self.taste.market.quality[item.row]
            stars = round(3.8 + quality + bonus + self.rng.gauss(0.0, 0.8))
            session.emit("rating", item, _gap(self.rng, 20), value=float(min(max(stars, 1), 5)))

    def running_out(self, now: int) -> ShopItem | None:
        due = sorted((when, row) for row, when in self.pantry.items() if when <= now)
        return self.taste.market.shop.items[due[0][1]] if due else None

    def checkout(self, session: _Session, cart: list[ShopItem]) -> None:
        rng = self.rng
        session.clock += _gap(rng, 90, 0.5)
        for item in cart:
            session.emit("purchase", item, 1000, value=item.price)
            if item.kind.repeat_days:
                days_left = item.kind.repeat_days * rng.uniform(0.75, 1.25)
                self.pantry[item.row] = session.clock + int(days_left * 86_400_000)
            else:
                self.taste.owned.add(item.row)
            if rng.random() < RATE:
                delay = rng.uniform(*RATING_DELAY_DAYS)
                self.to_rate.append((session.clock + int(delay * 86_400_000), item))


def _shopper_events(
    market: _Market, shopper: Shopper, user_index: int, seed: int, start_ms: int, days: int
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """One shopper's events in time order, as ``(time_ms, user_index, record)``."""
    rng = random.Random(f"shelf.synthetic.behaviour/{seed}/{shopper.user_id}")
    taste = _Taste(market, shopper)
    home = _Household(taste, rng)
    end_ms = start_ms + days * 86_400_000
    last_end = -SESSION_GAP_MS
    for k, begin in enumerate(_session_starts(rng, shopper, start_ms, days)):
        begin = max(begin, last_end + SESSION_GAP_MS)
        if begin >= end_ms:
            break
        session = _Session(shopper.user_id, f"{shopper.user_id}-s{k:03d}", begin)
        home.rate(session)
        cart: list[ShopItem] = []
        staple = home.running_out(begin)
        buying = staple is not None and rng.random() < REPLENISH
        if staple is not None and buying:
            session.emit("view", staple, _gap(rng, 10))
            if staple.available:
                session.emit("add_to_cart", staple, _gap(rng, 10))
                cart.append(staple)
        if not buying or rng.random() < KEEP_BROWSING:
            _browse(session, taste, _intent(taste, rng), cart, rng)
        for item in list(cart):
            if rng.random() < REMOVE:
                session.emit("remove_from_cart", item, _gap(rng, 10))
                cart.remove(item)
        if cart and (buying or rng.random() < CHECKOUT + 0.2 * (1 - shopper.price_sensitivity)):
            home.checkout(session, cart)
        last_end = session.clock
        for clock, record in session.events:
            yield clock, user_index, record


def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def generate_behaviour(
    catalog: Sequence[Mapping[str, Any]],
    n_users: int,
    *,
    seed: int = 0,
    start: datetime,
    days: int,
) -> Iterator[dict[str, Any]]:
    """Events of ``n_users`` shoppers over ``days`` days from ``start``, in time order, as
    records that :func:`shelf.catalog.parse_event` accepts (timestamps in ISO 8601). The same
    arguments give the same events; shopper ``u`` behaves the same whatever ``n_users``."""
    if n_users < 0 or days < 1:
        raise ValueError(f"need n_users >= 0 and days >= 1, got {n_users} and {days}")
    shop = index_shop(catalog)
    market = _Market(shop, seed)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start_ms = int(start.timestamp() * 1000)
    streams = [
        _shopper_events(market, draw_shopper(shop, user_id, seed), u, seed, start_ms, days)
        for u, user_id in enumerate(user_ids(n_users))
    ]
    merged = heapq.merge(*streams, key=lambda event: (event[0], event[1]))
    for n, (clock, _, record) in enumerate(merged):
        record["event_id"] = f"e{n:09d}"
        record["timestamp"] = _timestamp(clock)
        yield record
