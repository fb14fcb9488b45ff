"""The synthetic catalog: valid, deterministic, and shaped like a real shop in both languages."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any

import pytest

from shelf.catalog import parse_item
from shelf.synthetic import generate_catalog, vocabulary
from shelf.synthetic.catalog import shop_price
from shelf.synthetic.taxonomy import Lang, price_bound

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_record_parses_as_an_item(lang: str, request: pytest.FixtureRequest) -> None:
    catalog = request.getfixturevalue(f"catalog_{lang}")
    items = [parse_item(record) for record in catalog]
    assert len({item.item_id for item in items}) == len(items)
    assert all(item.title and item.description and item.brand for item in items)
    assert all(item.created_at is not None for item in items)


def test_same_seed_same_catalog_and_another_seed_another() -> None:
    first = generate_catalog(300, lang="en", seed=3)
    assert json.dumps(first) == json.dumps(generate_catalog(300, lang="en", seed=3))
    other = generate_catalog(300, lang="en", seed=4)
    assert [r["title"] for r in first] != [r["title"] for r in other]


def test_a_larger_catalog_keeps_every_product_type() -> None:
    vocab = vocabulary("en")
    catalog = generate_catalog(len(vocab.types), lang="en", seed=0)
    assert {tuple(r["category"]) for r in catalog} == {t.path for t in vocab.types}
    assert generate_catalog(0, seed=0) == []


def test_the_category_tree_has_departments_and_several_levels(
    catalog_en: list[dict[str, Any]],
) -> None:
    departments = {r["category"][0] for r in catalog_en}
    assert 6 <= len(departments) <= 10
    assert {len(r["category"]) for r in catalog_en} >= {3}
    middles = {tuple(r["category"][:2]) for r in catalog_en}
    assert len(middles) >= 2 * len(departments)
    assert ["Tools", "Power Tools", "Drills"] in [r["category"] for r in catalog_en]


def test_brands_are_per_department_and_some_are_shared(catalog_en: list[dict[str, Any]]) -> None:
    departments_of: defaultdict[str, set[str]] = defaultdict(set)
    for r in catalog_en:
        departments_of[r["brand"]].add(r["category"][0])
    assert len(departments_of) > 40
    assert any(len(d) > 1 for d in departments_of.values())
    assert "DeWalt" in departments_of and departments_of["DeWalt"] == {"Tools"}


def test_prices_depend_on_the_category_and_have_cents(catalog_en: list[dict[str, Any]]) -> None:
    assert all(r["currency"] == "USD" and r["price"] > 0 for r in catalog_en)
    assert all(round(r["price"], 2) == r["price"] for r in catalog_en)
    by_leaf: defaultdict[str, list[float]] = defaultdict(list)
    for r in catalog_en:
        by_leaf[r["category"][-1]].append(r["price"])
    median = {leaf: sorted(p)[len(p) // 2] for leaf, p in by_leaf.items()}
    assert median["Laptops"] > 10 * median["Spatulas"]
    assert 40 < median["Drills"] < 250


def test_titles_compose_brand_attributes_and_product_type(
    catalog_en: list[dict[str, Any]],
) -> None:
    drills = [r for r in catalog_en if r["category"][-1] == "Drills"]
    assert drills
    for r in drills:
        assert r["title"].startswith(r["brand"] + " ")
        assert f"{r['attributes']['voltage']}V" in r["title"]
        assert "Cordless Drill" in r["title"]
        assert r["title"].endswith(", " + r["attributes"]["color"])
    kinds = Counter(type(v).__name__ for r in catalog_en for v in r["attributes"].values())
    assert {"str", "int", "float", "bool"} <= set(kinds)


def test_descriptions_have_one_to_three_sentences_naming_features(
    catalog_en: list[dict[str, Any]],
) -> None:
    vocab = {t.path: t for t in vocabulary("en").types}
    for r in catalog_en:
        sentences = [s for s in re.split(r"(?<=\.)\s", r["description"]) if s]
        assert 1 <= len(sentences) <= 3, r["description"]
        assert any(f in r["description"] for f in vocab[tuple(r["category"])].features)


def test_chinese_catalog_has_chinese_words_and_yuan_prices(
    catalog_zh: list[dict[str, Any]],
) -> None:
    assert all(r["currency"] == "CNY" for r in catalog_zh)
    assert all(CJK.search(r["title"]) and CJK.search(r["description"]) for r in catalog_zh)
    assert all(CJK.search(name) for r in catalog_zh for name in r["category"])
    assert ["家用电器", "厨房电器", "电饭煲"] in [r["category"] for r in catalog_zh]
    brands = {r["brand"] for r in catalog_zh}
    assert {"华为", "小米", "美的"} <= brands
    cookers = [r for r in catalog_zh if r["category"][-1] == "电饭煲"]
    assert any(r["title"].startswith("美的 ") and "升" in r["title"] for r in cookers)
    assert all(r["price"] >= 9 for r in cookers)


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="no vocabulary"):
        generate_catalog(3, lang="fr", seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "lang", "u", "printed"),
    [
        (24.3, "en", 0.0, 24.99),
        (24.3, "en", 0.7, 24.49),
        (0.2, "en", 0.9, 0.99),
        (1234.0, "zh", 0.0, 1299.0),
        (312.0, "zh", 0.0, 319.0),
        (39.4, "zh", 0.1, 39.9),
        (39.4, "zh", 0.9, 39.0),
    ],
)
def test_prices_are_printed_as_shops_print_them(
    raw: float, lang: Lang, u: float, printed: float
) -> None:
    assert shop_price(raw, lang, u) == printed


@pytest.mark.parametrize(
    ("price", "steps", "bound"),
    [
        (89.99, (1, 1.5, 2, 2.5, 3, 4, 5, 7.5), 100),
        (92.0, (1, 1.5, 2, 2.5, 3, 4, 5, 7.5), 150),
        (6.49, (1, 1.5, 2, 2.5, 3, 4, 5, 7.5), 10),
        (299.0, (1, 1.5, 2, 3, 5, 8), 500),
        (4999.0, (1, 1.5, 2, 3, 5, 8), 8000),
    ],
)
def test_a_price_bound_is_the_next_round_number(
    price: float, steps: tuple[float, ...], bound: int
) -> None:
    assert price_bound(price, steps) == bound
