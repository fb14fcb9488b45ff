"""Shoppers' queries, built from the catalog's structure, and judged queries for evaluation.

A query names a product type and maybe a brand, an attribute value and a price bound
("dewalt 20v cordless drill under 150", "500元以下 美的 电饭煲"). It is drawn from an anchor
item, so at least one item matches it exactly. Judgements follow the Home Depot grades: 3 for
an item of the type that meets every constraint, 2 for the type otherwise, 1 for another type
of the same department.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from shelf.catalog import AttributeValue
from shelf.synthetic.shop import Shop, ShopItem, index_shop
from shelf.synthetic.taxonomy import attribute_text, price_bound

EXACT, PARTIAL, RELATED = 3, 2, 1


class QuerySpec(NamedTuple):
    """What a query asks for."""

    kind: str
    """The product type's key."""
    brand: str | None = None
    attribute: tuple[str, AttributeValue] | None = None
    """A pool name of the vocabulary and the value asked for."""
    max_price: int | None = None


class JudgedQueries(NamedTuple):
    queries: dict[str, str]
    """Query id -> text."""
    qrels: dict[str, dict[str, int]]
    """Query id -> item id -> relevance (3 exact, 2 partly, 1 irrelevant)."""


def query_text(spec: QuerySpec, shop: Shop) -> str:
    """The words a shopper types for ``spec``, in the language's order, lower case."""
    vocab = shop.vocab
    parts: dict[str, str] = {"noun": shop.types[spec.kind].noun}
    if spec.brand:
        parts["brand"] = spec.brand
    if spec.attribute:
        pool, value = spec.attribute
        parts["attribute"] = attribute_text(vocab.pools[pool], value)
    if spec.max_price is not None:
        parts["bound"] = vocab.under.format(spec.max_price)
    return " ".join(parts[p] for p in vocab.query_order if p in parts).lower()


def query_for(
    item: ShopItem,
    shop: Shop,
    rng: random.Random,
    *,
    brand: float = 0.35,
    attribute: float = 0.45,
    bound: float = 0.3,
) -> QuerySpec:
    """A query ``item`` answers exactly: its type, and with the given probabilities its brand,
    one of its title attributes and a round price bound above its price."""
    pools = shop.vocab.pools
    titled = [
        name
        for name in item.kind.attributes
        if pools[name].place != "none" and pools[name].name in item.attributes
    ]
    picked = None
    if titled and rng.random() < attribute:
        name = rng.choice(titled)
        picked = (name, item.attributes[pools[name].name])
    return QuerySpec(
        kind=item.kind.key,
        brand=item.brand if item.brand and rng.random() < brand else None,
        attribute=picked,
        max_price=price_bound(item.price, shop.vocab.bound_steps) if rng.random() < bound else None,
    )


def matches(spec: QuerySpec, item: ShopItem, shop: Shop) -> bool:
    """Whether ``item`` meets every constraint of ``spec``."""
    if item.kind.key != spec.kind:
        return False
    if spec.brand is not None and item.brand != spec.brand:
        return False
    if spec.attribute is not None:
        pool, value = spec.attribute
        if item.attributes.get(shop.vocab.pools[pool].name) != value:
            return False
    return spec.max_price is None or item.price <= spec.max_price


def relevance(spec: QuerySpec, item: ShopItem, shop: Shop) -> int:
    """3 exact, 2 the type asked for, 1 its department, 0 unrelated."""
    if matches(spec, item, shop):
        return EXACT
    if item.kind.key == spec.kind:
        return PARTIAL
    return RELATED if item.department == shop.types[spec.kind].department else 0


def _judge(
    spec: QuerySpec, shop: Shop, rng: random.Random, max_partial: int, max_related: int
) -> dict[str, int]:
    department = shop.types[spec.kind].department
    graded: dict[int, list[str]] = {EXACT: [], PARTIAL: [], RELATED: []}
    for item in shop.items:
        if item.department == department:
            graded[relevance(spec, item, shop)].append(item.item_id)
    judged = dict.fromkeys(graded[EXACT], EXACT)
    for grade, cap in ((PARTIAL, max_partial), (RELATED, max_related)):
        ids = graded[grade]
        for item_id in rng.sample(ids, min(cap, len(ids))):
            judged[item_id] = grade
    return judged


def generate_judged_queries(
    catalog: Sequence[Mapping[str, Any]],
    n_queries: int,
    *,
    seed: int = 0,
    max_partial: int = 10,
    max_related: int = 5,
) -> JudgedQueries:
    """``n_queries`` distinct queries over ``catalog`` with graded judgements: every item that
    matches exactly (3), up to ``max_partial`` of the same type (2) and up to ``max_related``
    of the same department (1). Fewer queries when the catalog cannot give that many distinct
    ones. Works for English and Chinese catalogs alike."""
    shop = index_shop(catalog)
    rng = random.Random(f"shelf.synthetic.queries/{seed}")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    width = max(4, len(str(max(n_queries - 1, 0))))
    for _ in range(20 * n_queries):
        if len(queries) == n_queries:
            break
        spec = query_for(rng.choice(shop.items), shop, rng)
        text = query_text(spec, shop)
        if text in seen:
            continue
        seen.add(text)
        qid = f"q{len(queries):0{width}d}"
        queries[qid] = text
        qrels[qid] = _judge(spec, shop, rng, max_partial, max_related)
    return JudgedQueries(queries=queries, qrels=qrels)
