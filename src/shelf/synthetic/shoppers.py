"""Shoppers' latent tastes: favourite departments (the first far ahead of the others), favoured
product types within them, a few favourite brands, a price sensitivity and how often they shop.

Each shopper is drawn from their own seeded stream, so shopper ``u`` is the same whether 10 or
10,000 are drawn. :func:`draw_shoppers` exposes the tastes so that tests and evaluations can
check what a model learned against what the shoppers really wanted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from shelf.synthetic.shop import Shop, index_shop

# Department weights for 1, 2 or 3 favourites; the first dominates.
FAVOURITE_WEIGHTS = {1: (1.0,), 2: (0.8, 0.2), 3: (0.7, 0.18, 0.12)}
FAVOURITE_COUNTS = (1, 2, 3)
FAVOURITE_COUNT_ODDS = (0.35, 0.45, 0.2)
BRANDS_PER_DEPARTMENT = (1, 2)
# Sessions a week: log-normal around 1.5, so a few shoppers are many times more active.
ACTIVITY_MEDIAN = 1.5
ACTIVITY_SIGMA = 0.7


class Shopper(NamedTuple):
    user_id: str
    departments: tuple[str, ...]
    """Favourite departments, strongest first."""
    department_weights: tuple[float, ...]
    type_weights: dict[str, float]
    """Preference among the product types of the favourite departments, by type key."""
    brands: tuple[str, ...]
    """Favourite brands (a few per favourite department)."""
    price_sensitivity: float
    """0 buys regardless of price, 1 hunts for the cheapest."""
    activity: float
    """Expected sessions per week."""


def user_ids(n_users: int) -> list[str]:
    """``u000000``, ``u000001``, ...: six digits, more when there are more users."""
    width = max(6, len(str(max(n_users - 1, 0))))
    return [f"u{u:0{width}d}" for u in range(n_users)]


def draw_shopper(shop: Shop, user_id: str, seed: int) -> Shopper:
    """The tastes of ``user_id`` in ``shop``, from its own stream of ``seed``."""
    rng = random.Random(f"shelf.synthetic.shopper/{seed}/{user_id}")
    departments = shop.departments
    # Bigger departments have more fans.
    sizes = [
        math.sqrt(sum(len(shop.by_type[k]) for k in shop.department_types(d))) for d in departments
    ]
    count = min(rng.choices(FAVOURITE_COUNTS, FAVOURITE_COUNT_ODDS)[0], len(departments))
    favourites: list[str] = []
    while len(favourites) < count:
        pick = rng.choices(departments, sizes)[0]
        if pick not in favourites:
            favourites.append(pick)
    type_weights: dict[str, float] = {}
    brands: list[str] = []
    for department in favourites:
        keys = shop.department_types(department)
        for key in keys:
            # A small gamma shape concentrates each shopper on a couple of types.
            type_weights[key] = rng.gammavariate(0.6, 1.0) + 1e-3
        sold = sorted({shop.items[i].brand for k in keys for i in shop.by_type[k]} - {""})
        n_brands = min(rng.choice(BRANDS_PER_DEPARTMENT), len(sold))
        brands += [b for b in rng.sample(sold, n_brands) if b not in brands]
    return Shopper(
        user_id=user_id,
        departments=tuple(favourites),
        department_weights=FAVOURITE_WEIGHTS[count],
        type_weights=type_weights,
        brands=tuple(brands),
        price_sensitivity=rng.random(),
        activity=rng.lognormvariate(math.log(ACTIVITY_MEDIAN), ACTIVITY_SIGMA),
    )


def draw_shoppers(
    catalog: Sequence[Mapping[str, Any]], n_users: int, *, seed: int = 0
) -> list[Shopper]:
    """The latent tastes of the ``n_users`` shoppers :func:`generate_behaviour` simulates for
    the same catalog and seed."""
    shop = index_shop(catalog)
    return [draw_shopper(shop, user_id, seed) for user_id in user_ids(n_users)]
