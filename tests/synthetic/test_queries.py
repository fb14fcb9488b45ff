"""Judged queries: each names what it asks for in words a shopper types, and the grades
follow the catalog's structure (3 exact, 2 the same product type, 1 the same department)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shelf.synthetic import generate_judged_queries

Catalog = list[dict[str, Any]]
PRICE_BOUND = re.compile(r"under \d+|\d+元以下")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_query_has_an_exact_match(lang: str, request: pytest.FixtureRequest) -> None:
    queries, qrels = generate_judged_queries(
        request.getfixturevalue(f"catalog_{lang}"), 150, seed=1
    )
    assert len(queries) == 150 and set(qrels) == set(queries)
    assert len(set(queries.values())) == len(queries)
    for qid, judged in qrels.items():
        assert 3 in judged.values(), queries[qid]
        assert set(judged.values()) <= {1, 2, 3}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_grades_follow_the_category_tree(lang: str, request: pytest.FixtureRequest) -> None:
    catalog = {r["item_id"]: r for r in request.getfixturevalue(f"catalog_{lang}")}
    queries, qrels = generate_judged_queries(list(catalog.values()), 80, seed=2)
    for qid, judged in qrels.items():
        exact = {tuple(catalog[i]["category"]) for i, g in judged.items() if g == 3}
        assert len(exact) == 1, queries[qid]
        (path,) = exact
        for item_id, grade in judged.items():
            category = tuple(catalog[item_id]["category"])
            if grade == 2:
                assert category == path
            if grade == 1:
                assert category != path and category[0] == path[0]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_exact_items_carry_every_word_of_the_query(
    lang: str, request: pytest.FixtureRequest
) -> None:
    """Brand, attribute and product words are in the exact items' titles; a price bound holds."""
    catalog = {r["item_id"]: r for r in request.getfixturevalue(f"catalog_{lang}")}
    queries, qrels = generate_judged_queries(list(catalog.values()), 120, seed=3)
    bounded = 0
    for qid, text in queries.items():
        bound = PRICE_BOUND.search(text)
        words = PRICE_BOUND.sub(" ", text).split()
        for item_id in (i for i, g in qrels[qid].items() if g == 3):
            title = catalog[item_id]["title"].lower()
            assert all(w in title for w in words), (text, title)
            if bound:
                assert catalog[item_id]["price"] <= int(re.sub(r"\D", "", bound.group()))
        bounded += bound is not None
    assert bounded > 10


def test_chinese_queries_are_chinese(catalog_zh: Catalog) -> None:
    queries, _ = generate_judged_queries(catalog_zh, 60, seed=0)
    assert all(re.search(r"[\u4e00-\u9fff]", q) for q in queries.values())


def test_same_seed_same_queries(catalog_en: Catalog) -> None:
    first = generate_judged_queries(catalog_en, 40, seed=9)
    assert first == generate_judged_queries(catalog_en, 40, seed=9)
    assert first.queries != generate_judged_queries(catalog_en, 40, seed=10).queries


def test_a_tiny_catalog_gives_what_it_can() -> None:
    from shelf.synthetic import generate_catalog

    queries, qrels = generate_judged_queries(generate_catalog(3, seed=0), 500, seed=0)
    assert 0 < len(queries) < 500
    assert all(3 in judged.values() for judged in qrels.values())
