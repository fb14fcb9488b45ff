"""Shoppers' events: valid, deterministic, and with the structure a model should learn
(favourite departments, complements bought together, repeat purchases, searches that lead to
what is viewed)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shelf.catalog import parse_event
from shelf.synthetic import draw_shoppers, generate_behaviour, generate_catalog, vocabulary
from shelf.synthetic.taxonomy import Lang

from .conftest import DAYS, START, USERS

Events = list[dict[str, Any]]
Catalog = list[dict[str, Any]]


def type_keys(catalog: Catalog, lang: Lang) -> dict[str, str]:
    """Item id -> the vocabulary's product type key."""
    by_path = {t.path: t.key for t in vocabulary(lang).types}
    return {r["item_id"]: by_path[tuple(r["category"])] for r in catalog}


def baskets(events: Events) -> list[set[str]]:
    """The items bought in each session."""
    bought: defaultdict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["type"] == "purchase":
            bought[e["session_id"]].add(e["item_id"])
    return list(bought.values())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_event_parses_and_time_runs_forward(
    lang: str, request: pytest.FixtureRequest
) -> None:
    events = request.getfixturevalue(f"events_{lang}")
    parsed = [parse_event(e) for e in events]
    assert len(parsed) > 20 * USERS
    assert len({e.event_id for e in parsed}) == len(parsed)
    times = [e.timestamp for e in parsed]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + timedelta(days=DAYS + 1)
    assert all(re.fullmatch(r"u\d{6}", e.user_id) for e in parsed)
    assert {e.type.value for e in parsed} == {
        "view",
        "click",
        "add_to_cart",
        "remove_from_cart",
        "purchase",
        "rating",
        "search",
    }


def test_same_seed_same_events_another_seed_others(catalog_en: Catalog) -> None:
    def run(seed: int) -> str:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        return json.dumps(list(generate_behaviour(catalog_en, 30, seed=seed, start=start, days=20)))

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_sessions_are_one_users_and_spread_over_the_period(events_en: Events) -> None:
    sessions: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events_en:
        sessions[e["session_id"]].append(e)
    assert len(sessions) > 3 * USERS
    assert all(len({e["user_id"] for e in s}) == 1 for s in sessions.values())
    days = {e["timestamp"][:10] for e in events_en}
    assert len(days) >= DAYS - 2


def test_views_concentrate_in_the_favourite_department(
    catalog_en: Catalog, events_en: Events
) -> None:
    department = {r["item_id"]: r["category"][0] for r in catalog_en}
    views: defaultdict[str, list[str]] = defaultdict(list)
    for e in events_en:
        if e["type"] == "view":
            views[e["user_id"]].append(department[e["item_id"]])
    shares = sorted(
        sum(d == shopper.departments[0] for d in views[shopper.user_id])
        / len(views[shopper.user_id])
        for shopper in draw_shoppers(catalog_en, USERS, seed=7)
        if len(views[shopper.user_id]) >= 10
    )
    assert len(shares) > USERS / 2
    assert shares[len(shares) // 2] > 0.6  # the median shopper
    assert sum(s > 0.5 for s in shares) > 0.7 * len(shares)


def test_complements_are_bought_together_far_above_their_base_rate(
    catalog_en: Catalog, events_en: Events
) -> None:
    key = type_keys(catalog_en, "en")
    kinds = [{key[i] for i in basket} for basket in baskets(events_en)]
    with_pan = [b for b in kinds if "frying_pan" in b]
    base = sum("spatula" in b for b in kinds) / len(kinds)
    assert len(with_pan) >= 10
    assert sum("spatula" in b for b in with_pan) / len(with_pan) > 5 * base
    lifts = []
    for t in vocabulary("en").types:
        for other in t.complements:
            having = [b for b in kinds if t.key in b]
            rate = sum(other in b for b in kinds) / len(kinds)
            if len(having) >= 10 and rate > 0:
                lifts.append(sum(other in b for b in having) / len(having) / rate)
    assert len(lifts) > 20
    assert sorted(lifts)[len(lifts) // 4] > 4  # three in four complement pairs


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_item_cooccurrence_of_purchases_finds_a_true_complement(
    lang: Lang, request: pytest.FixtureRequest
) -> None:
    """The end-to-end check: the simplest bought-together model learns the complements."""
    catalog = request.getfixturevalue(f"catalog_{lang}")
    key = type_keys(catalog, lang)
    complements = {t.key: set(t.complements) for t in vocabulary(lang).types}
    together: defaultdict[str, Counter[str]] = defaultdict(Counter)
    bought: Counter[str] = Counter()
    for basket in baskets(request.getfixturevalue(f"events_{lang}")):
        for a in basket:
            bought[a] += 1
            together[a].update(b for b in basket if b != a)
    anchors = [i for i, n in bought.items() if n >= 3 and complements[key[i]]]
    hits = [
        any(key[j] in complements[key[i]] for j, _ in together[i].most_common(10)) for i in anchors
    ]
    assert len(anchors) >= 30
    assert sum(hits) / len(hits) > 0.7


def test_consumables_are_bought_again(catalog_en: Catalog, events_en: Events) -> None:
    consumable = {t.path for t in vocabulary("en").types if t.repeat_days}
    is_consumable = {r["item_id"]: tuple(r["category"]) in consumable for r in catalog_en}
    purchases = Counter((e["user_id"], e["item_id"]) for e in events_en if e["type"] == "purchase")
    repeats = [pair for pair, n in purchases.items() if n > 1]
    assert len(repeats) > 50
    assert sum(is_consumable[item] for _, item in repeats) > 0.8 * len(repeats)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_searches_lead_to_items_of_what_was_asked(
    lang: Lang, request: pytest.FixtureRequest
) -> None:
    catalog = {r["item_id"]: r for r in request.getfixturevalue(f"catalog_{lang}")}
    vocab = {t.path: t for t in vocabulary(lang).types}
    clicks = [
        e for e in request.getfixturevalue(f"events_{lang}") if e["type"] == "click" and e["query"]
    ]
    assert len(clicks) > 200
    named = [
        vocab[tuple(catalog[e["item_id"]]["category"])].noun.lower() in e["query"] for e in clicks
    ]
    assert sum(named) / len(named) > 0.9
    queries = [
        e["query"] for e in request.getfixturevalue(f"events_{lang}") if e["type"] == "search"
    ]
    bound = "元以下" if lang == "zh" else "under "
    assert any(bound in q for q in queries)


def test_a_shopper_behaves_the_same_whatever_the_number_of_shoppers(catalog_en: Catalog) -> None:
    def first_user(n_users: int) -> list[dict[str, Any]]:
        events = generate_behaviour(catalog_en, n_users, seed=5, start=START, days=10)
        return [
            {k: v for k, v in e.items() if k != "event_id"}
            for e in events
            if e["user_id"] == "u000000"
        ]

    assert first_user(3) == first_user(8)


def test_a_catalog_from_elsewhere_still_works() -> None:
    catalog = [
        {
            "item_id": f"x{i}",
            "title": f"Thing {i}",
            "category": ["Misc", f"Kind {i % 3}"],
            "price": 5.0 + i,
            "brand": "Acme",
        }
        for i in range(30)
    ]
    events = list(generate_behaviour(catalog, 20, seed=0, start=START, days=15))
    assert events and all(parse_event(e) for e in events)


def test_chinese_shop_is_the_chinese_vocabulary(catalog_zh: Catalog) -> None:
    assert generate_catalog(5, lang="zh", seed=7)[0]["currency"] == "CNY"
    assert {r["category"][0] for r in catalog_zh} == {t.department for t in vocabulary("zh").types}
