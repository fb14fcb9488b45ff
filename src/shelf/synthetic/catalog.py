"""A seeded, believable product catalog in English or Chinese.

Items are spread over the vocabulary's product types (every type gets one before any gets a
second); each draws a brand sold under its category, a value from each of its attribute pools,
a log-normal price around the type's median (moved by the brand's price tier and by larger
sizes and capacities), a title of brand, attributes and noun, and a one-to-three sentence
description naming its features.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shelf.synthetic.shop import vocabulary
from shelf.synthetic.taxonomy import Lang, ProductType, Vocabulary, attribute_text, brands_for

CREATED_FROM = datetime(2023, 1, 1, tzinfo=UTC)
CREATED_DAYS = 730
UNAVAILABLE = 0.05
# A quarter of titles carry a modifier ("Compact", "智能"), as shop titles often do.
MODIFIER_RATE = 0.25
SECOND_SENTENCE = 0.8
CLOSER = 0.4
_EN_CENTS = (0.99, 0.99, 0.99, 0.97, 0.49, 0.0)


def item_ids(n_items: int) -> list[str]:
    """``i000000``, ``i000001``, ...: six digits, more when the catalog needs them."""
    width = max(6, len(str(max(n_items - 1, 0))))
    return [f"i{i:0{width}d}" for i in range(n_items)]


def shop_price(raw: float, lang: Lang, u: float) -> float:
    """``raw`` as the shop would print it: 24.99 or 19.49 in USD; 299, 1299 or 39.9 in CNY.
    ``u`` in [0, 1) picks among the usual endings."""
    if lang == "zh":
        if raw >= 1000:
            return float(math.floor(raw / 100) * 100 + 99)
        if raw >= 100:
            return float(math.floor(raw / 10) * 10 + 9)
        whole = max(math.floor(raw), 1)
        return whole + 0.9 if u < 0.5 else float(max(math.floor(raw / 10) * 10 + 9, 9))
    price = math.floor(raw) + _EN_CENTS[int(u * len(_EN_CENTS))]
    return round(price if price >= 0.49 else 0.99, 2)


def _type_plan(vocab: Vocabulary, n_items: int, rng: random.Random) -> list[ProductType]:
    """Which type each item is: one of each type first (shuffled), then by popularity."""
    types = list(vocab.types)
    weights = [rng.lognormvariate(0.0, 0.6) for _ in types]
    order = types[:]
    rng.shuffle(order)
    plan = order[:n_items]
    if n_items > len(plan):
        plan += rng.choices(types, weights=weights, k=n_items - len(plan))
    rng.shuffle(plan)
    return plan


def _brand_tiers(vocab: Vocabulary, rng: random.Random) -> dict[str, float]:
    names = sorted({b for brands in vocab.brands.values() for b in brands})
    return {name: math.exp(rng.gauss(0.0, 0.25)) for name in names}


def _title(
    vocab: Vocabulary,
    kind: ProductType,
    brand: str,
    texts: list[tuple[str, str]],
    modifier: str | None,
) -> str:
    """Brand, pre-noun attributes, noun (with its modifier), then post-noun attributes."""
    noun = f"{modifier}{vocab.modifier_gap}{kind.noun}" if modifier else kind.noun
    head = " ".join([brand, *(t for place, t in texts if place == "pre"), noun])
    tail = [t for place, t in texts if place == "post"]
    return vocab.post_gap.join([head, *tail]) if tail else head


def _description(vocab: Vocabulary, kind: ProductType, brand: str, rng: random.Random) -> str:
    features = list(kind.features)
    rng.shuffle(features)
    fields = {"brand": brand, "noun": kind.noun, "f1": features[0]}
    sentences = [rng.choice(vocab.intros).format(**fields)]
    rest = features[1:3]
    if rest and rng.random() < SECOND_SENTENCE:
        templates = vocab.middles if len(rest) == 2 else vocab.singles
        sentences.append(rng.choice(templates).format(f2=rest[0], f3=rest[-1]))
    if rng.random() < CLOSER:
        sentences.append(rng.choice(vocab.closers))
    return (" " if vocab.lang == "en" else "").join(sentences)


def _item(
    vocab: Vocabulary, kind: ProductType, item_id: str, tier: dict[str, float], rng: random.Random
) -> dict[str, Any]:
    brand = rng.choice(brands_for(vocab, kind.path))
    attributes: dict[str, Any] = {}
    texts: list[tuple[str, str]] = []
    price = kind.price * tier[brand] * math.exp(rng.gauss(0.0, kind.spread))
    for pool_name in kind.attributes:
        pool = vocab.pools[pool_name]
        index = rng.randrange(len(pool.values))
        value = pool.values[index]
        attributes[pool.name] = value
        # Centred, so the type's median price stays its median.
        price *= (1.0 + pool.price_step) ** (index - (len(pool.values) - 1) / 2)
        if pool.place != "none":
            texts.append((pool.place, attribute_text(pool, value)))
    modifier = None
    if kind.modifiers and rng.random() < MODIFIER_RATE:
        modifier = rng.choice(kind.modifiers)
    created = CREATED_FROM + timedelta(seconds=rng.randrange(CREATED_DAYS * 86_400))
    return {
        "item_id": item_id,
        "title": _title(vocab, kind, brand, texts, modifier),
        "description": _description(vocab, kind, brand, rng),
        "category": list(kind.path),
        "brand": brand,
        "price": shop_price(price, vocab.lang, rng.random()),
        "currency": vocab.currency,
        "attributes": attributes,
        "image_url": f"https://images.example.com/{vocab.lang}/{item_id}.jpg",
        "available": rng.random() >= UNAVAILABLE,
        "created_at": created.isoformat().replace("+00:00", "Z"),
    }


def generate_catalog(n_items: int, *, lang: Lang = "en", seed: int = 0) -> list[dict[str, Any]]:
    """``n_items`` product records that :func:`shelf.catalog.parse_item` accepts, the same for
    the same ``(n_items, lang, seed)``. Records are JSON-ready (times as ISO 8601 text)."""
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    vocab = vocabulary(lang)
    rng = random.Random(f"shelf.synthetic.catalog/{lang}/{seed}")
    tiers = _brand_tiers(vocab, rng)
    plan = _type_plan(vocab, n_items, rng)
    return [
        _item(vocab, kind, i, tiers, rng) for kind, i in zip(plan, item_ids(n_items), strict=True)
    ]
