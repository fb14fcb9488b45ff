"""A quality gate that always runs: search and recommendation NDCG@10 on a small synthetic
shop (seeded, no outside data), each held to a known band (gorse asserts NDCG 0.36 ± 0.01 the
same way). A change that moves a band is a change to the ranking: rerun and re-set it on
purpose, saying why in the commit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shelf.catalog import parse_item
from shelf.evaluate.recs_protocol import evaluate, leave_one_out
from shelf.evaluate.search_metrics import evaluate_rankings
from shelf.recommend import build
from shelf.search import SearchConfig, SearchRequest, SearchService
from shelf.synthetic import generate_behaviour, generate_catalog, generate_judged_queries

BAND = 0.01
SEARCH_NDCG10 = 0.8756  # lexical retrieval + the linear ranker, no encoder
COOC_NDCG10 = 0.0572
POP_NDCG10 = 0.0050
INTERACTIONS = ("view", "click", "add_to_cart", "purchase")


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, object]]:
    return generate_catalog(1500, seed=7)


def test_search_ndcg_on_the_synthetic_shop(catalog: list[dict[str, object]]) -> None:
    judged = generate_judged_queries(catalog, 200, seed=7)
    service = SearchService.build(
        [parse_item(r) for r in catalog],
        config=SearchConfig(k_dense=0, encoder=None),
        show_progress=False,
    )
    rankings = {}
    for qid, query in judged.queries.items():
        asked = SearchRequest(query=query, page_size=100, apply_understood_filters=False)
        rankings[qid] = [hit.item_id for hit in service.search(asked).items]
    qrels = {q: {i: float(r) for i, r in found.items()} for q, found in judged.qrels.items()}
    ndcg = evaluate_rankings(rankings, qrels)["ndcg@10"]
    assert ndcg == pytest.approx(SEARCH_NDCG10, abs=BAND)


def test_recommendation_ndcg_on_the_synthetic_shop(catalog: list[dict[str, object]]) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    history: dict[str, list[str]] = {}
    for event in generate_behaviour(catalog, 800, seed=7, start=start, days=60):
        if event.get("item_id") and event["type"] in INTERACTIONS:
            history.setdefault(str(event["user_id"]), []).append(str(event["item_id"]))
    split = leave_one_out(list(history), list(history.values()))
    scores = {}
    for name in ("pop", "cooc"):
        model = build(name).fit(split.train, split.validation)
        scores[name] = evaluate(model, split.test)["ndcg@10"]
    assert scores["cooc"] == pytest.approx(COOC_NDCG10, abs=BAND)
    assert scores["pop"] == pytest.approx(POP_NDCG10, abs=BAND)
    assert scores["cooc"] > 5 * scores["pop"]  # the shoppers' sessions are learnable
