"""The search service end to end on a ten-item catalog with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelf.catalog import Item
from shelf.errors import ValidationError
from shelf.search import candidates
from shelf.search.filters import SearchFilters
from shelf.search.persist import load_search, save_search
from shelf.search.rank import LinearRanker
from shelf.search.schemas import SearchRequest
from shelf.search.service import SearchService

from .conftest import HashingEncoder, ask, make_items


def ids(response: object) -> list[str]:
    return [h.item_id for h in response.items]  # type: ignore[attr-defined]


def test_misspelt_query_finds_the_product(service: SearchService) -> None:
    response = ask(service, "refridgerator")
    assert response.understood["corrections"] == {"refridgerator": "refrigerator"}
    assert set(ids(response)[:2]) == {"1", "2"}
    assert "spelling refridgerator->refrigerator" in response.items[0].reason


def test_transposed_brand_is_corrected(service: SearchService) -> None:
    response = ask(service, "everblit hinge")
    assert ids(response)[0] == "7"
    assert response.understood["brands"] == ["Everbilt"]


def test_price_is_parsed_and_applied(service: SearchService) -> None:
    response = ask(service, "cordless drill under $100")
    assert response.understood["price_max"] == 100.0
    assert response.understood["terms"] == ["cordless", "drill"]
    assert set(ids(response)) == {"3", "4"}
    assert all(h.price is not None and h.price <= 100 for h in response.items)


def test_understood_filters_can_be_overridden(service: SearchService) -> None:
    response = ask(service, "cordless drill under $100", apply_understood_filters=False)
    assert "5" in ids(response)
    explicit = ask(service, "cordless drill under $100", filters=SearchFilters(price_max=150))
    assert set(ids(explicit)) == {"3", "4"}  # the explicit bound wins; 199 is above it
    literal = ask(service, "drill under $100", understand=False)
    assert literal.understood["price_max"] is None


def test_brand_and_category_filters_are_respected(service: SearchService) -> None:
    response = ask(service, "drill", filters=SearchFilters(brands=["ryobi"]))
    assert ids(response) == ["4"]
    response = ask(service, "samsung", filters=SearchFilters(category=["Electronics"]))
    assert ids(response) == ["9"]


def test_attribute_and_availability_filters(service: SearchService) -> None:
    response = ask(service, "drill", filters=SearchFilters(attributes={"color": ["red"]}))
    assert ids(response) == ["5"]
    response = ask(service, "cordless drill", filters=SearchFilters(available=True))
    assert "5" not in ids(response)


def test_facet_counts_are_exact(service: SearchService) -> None:
    response = ask(service, "drill", filters=SearchFilters(category=["Tools"]))
    assert response.total == 3
    assert response.facets["brand"] == {"DEWALT": 1, "Milwaukee": 1, "Ryobi": 1}
    assert response.facets["category.1"] == {"Tools > Drills": 3}
    assert response.facets["available"] == {"true": 2, "false": 1}
    assert response.facets["price"] == {"50-100": 2, "100-250": 1}
    assert response.facets["attributes.color"] == {"Green": 1, "Red": 1, "Yellow": 1}


def test_sorting_by_price_and_newest(service: SearchService) -> None:
    drills = SearchFilters(category=["Tools", "Drills"])
    up = ask(service, "drill", filters=drills, sort="price_asc")
    assert [h.price for h in up.items] == [79.0, 99.0, 199.0]
    down = ask(service, "drill", filters=drills, sort="price_desc")
    assert [h.price for h in down.items] == [199.0, 99.0, 79.0]
    newest = ask(service, "drill", filters=drills, sort="newest")
    assert ids(newest) == ["5", "4", "3"]
    with pytest.raises(ValidationError):
        ask(service, "drill", sort="cheapest")


def test_pagination_splits_the_same_ranking(service: SearchService) -> None:
    everything = ids(ask(service, "samsung refrigerator drill", page_size=100))
    pages = [
        ids(ask(service, "samsung refrigerator drill", page=p, page_size=2)) for p in (1, 2, 3)
    ]
    assert [i for page in pages for i in page] == everything[:6]


def test_synonyms_find_the_other_word(service: SearchService) -> None:
    response = ask(service, "couch")
    assert {"6", "10"} <= set(ids(response)[:2])
    assert response.understood["synonyms"] == ["sofa"]


def test_attribute_values_from_the_catalog_boost(service: SearchService) -> None:
    response = ask(service, "red leather sofa")
    assert response.understood["attributes"] == {"color": ["Red"], "material": ["Leather"]}
    assert ids(response)[0] == "6"


def test_empty_query_browses_with_filters(service: SearchService) -> None:
    response = ask(service, "", filters=SearchFilters(brands=["Everbilt"]), sort="price_asc")
    assert ids(response) == ["8", "7"]


def test_new_items_are_findable_at_once(service: SearchService) -> None:
    new = Item(item_id="11", title="Makita Cordless Circular Saw", brand="Makita", price=149.0)
    assert service.add_items([new]) == 1
    assert ids(ask(service, "circular saw"))[0] == "11"
    with pytest.raises(ValidationError):
        service.add_items([new])


def test_personalisation_is_a_no_op_by_default(service: SearchService) -> None:
    anonymous = ask(service, "cordless drill")
    personal = ask(service, "cordless drill", user_id="u1")
    assert [(h.item_id, h.score) for h in anonymous.items] == [
        (h.item_id, h.score) for h in personal.items
    ]


def test_personaliser_hook_reranks(service: SearchService) -> None:
    def prefer_ryobi(user_id: str, item_ids: list[str], scores: np.ndarray) -> np.ndarray:
        return scores + np.array([10.0 if i == "4" else 0.0 for i in item_ids])

    service.personalizer = prefer_ryobi
    assert ids(ask(service, "cordless drill", user_id="u1"))[0] == "4"


def test_bad_paging_is_refused(service: SearchService) -> None:
    with pytest.raises(ValidationError):
        ask(service, "drill", page=0)
    with pytest.raises(ValidationError):
        ask(service, "drill", page_size=1000)


def test_save_then_load_gives_the_same_results(service: SearchService, tmp_path: Path) -> None:
    save_search(service, tmp_path / "index")
    config = service.config.model_copy(update={"encoder": None, "k_dense": 0})
    lexical_only = SearchService.build(service.items, config=config, show_progress=False)
    save_search(lexical_only, tmp_path / "lexical")
    again = load_search(tmp_path / "lexical")
    assert ids(ask(again, "cordless drill")) == ids(ask(lexical_only, "cordless drill"))


def test_batch_build_equals_incremental_adds(items: list[Item]) -> None:
    whole = SearchService.build(items, encoder=HashingEncoder(), show_progress=False)
    grown = SearchService.build(items[:4], encoder=HashingEncoder(), show_progress=False)
    grown.add_items(items[4:])
    for q in ("cordless drill", "samsung", "door hinge"):
        a, b = ask(whole, q), ask(grown, q)
        assert [(h.item_id, h.score) for h in a.items] == [(h.item_id, h.score) for h in b.items]


def test_word_features_known_answers(service: SearchService) -> None:
    # "DEWALT 20V MAX Cordless Drill", "Ryobi 18V Cordless Drill Driver" ("18v": 2 terms),
    # "Everbilt 3 in. Door Hinge"
    docs = np.array([2, 3, 6])
    np.testing.assert_allclose(
        candidates.last_term_position(service.index, ["drill"], docs), [1.0, 0.8, 1.5]
    )
    assert candidates.last_term_position(service.index, [], docs).tolist() == [1.5, 1.5, 1.5]
    assert candidates.last_term_position(service.index, ["nosuchterm"], docs).tolist() == [
        1.5,
        1.5,
        1.5,
    ]
    coverage = candidates.word_coverage(service.index, ["the", "cordless", "drill", "driver"], docs)
    np.testing.assert_allclose(coverage, [2 / 3, 1.0, 0.0])
    assert candidates.word_coverage(service.index, ["the"], docs).tolist() == [0.0, 0.0, 0.0]
    # docs 3 and 6 only, out of order: the same values at the same docs
    np.testing.assert_allclose(
        candidates.last_term_position(service.index, ["drill"], np.array([6, 3])), [1.5, 0.8]
    )
    matches = candidates.term_match(
        service.index, service.understand("drill hinges").terms, np.array([2, 6])
    )
    assert matches.tolist() == [[True, False], [False, True]]


class AliasEncoder(HashingEncoder):
    """HashingEncoder that reads "lounger" as "sofa couch": the vector index then finds sofas
    that no lexical retriever matches."""

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return super().encode([t.replace("lounger", "sofa couch") for t in texts])


def test_encoding_beside_the_lexical_stage_changes_nothing(items: list[Item]) -> None:
    from shelf.search.config import SearchConfig
    from shelf.search.features import FEATURE_NAMES

    config = SearchConfig(k_lexical=50, k_dense=50, spelling=False)
    service = SearchService.build(items, config=config, encoder=AliasEncoder(), show_progress=False)
    mixed = 0
    for query in ("red lounger", "lounger hinge", "cordless lounger drill", "samsung tv", "zzz"):
        understood = service.understand(query)
        service.config.encode_in_parallel = True  # split: lexical candidates first
        side = service.prepare(understood, cached=False)
        service.config.encode_in_parallel = False  # one pass over the union
        inline = service.prepare(understood, cached=False)
        assert side.docs.tolist() == inline.docs.tolist()
        np.testing.assert_array_equal(side.features, inline.features)
        assert side.query_vector is not None
        dense_only = side.features[:, FEATURE_NAMES.index("lex_score")] == 0
        mixed += int(dense_only.any() and not dense_only.all())
    assert mixed >= 2  # both halves of the split were exercised


def test_identical_anonymous_requests_are_answered_from_the_cache(
    service: SearchService,
) -> None:
    first = ask(service, "cordless drill", filters=SearchFilters(price_max=150))
    again = ask(service, "cordless drill", filters=SearchFilters(price_max=150))
    assert not first.cached and again.cached
    assert again.model_dump(exclude={"took_ms", "cached"}) == first.model_dump(
        exclude={"took_ms", "cached"}
    )
    # other filters, pages or a user are other requests
    assert not ask(service, "cordless drill").cached
    assert not ask(service, "cordless drill", filters=SearchFilters(price_max=150), page=2).cached
    assert not ask(service, "cordless drill", user_id="u1").cached
    assert not ask(service, "cordless drill", user_id="u1").cached
    stats = service.response_cache_stats()
    assert stats["hits"] == 1 and stats["entries"] == 3


def test_search_splits_into_a_cache_look_and_an_answer(service: SearchService) -> None:
    asked = SearchRequest.checked(query="cordless drill", filters=SearchFilters(brands=["DEWALT"]))
    assert service.cached(asked) is None  # nothing computed on a miss
    assert service.response_cache_stats()["entries"] == 0
    answered = service.answer(asked)
    assert not answered.cached and ids(answered)
    hit = service.cached(
        SearchRequest.checked(query="cordless drill", filters=SearchFilters(brands=["DEWALT"]))
    )
    assert hit is not None and hit.cached and ids(hit) == ids(answered)
    stats = service.response_cache_stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert (
        service.cached(SearchRequest.checked(query="cordless drill", user_id="u1")) is None
    )  # personal
    with pytest.raises(ValidationError):
        SearchRequest.checked(query="drill", page=0)
    with pytest.raises(ValidationError):
        SearchRequest.checked(query="drill", sort="cheapest")


def test_any_change_starts_a_fresh_response_cache(service: SearchService) -> None:
    ask(service, "cordless saw")
    assert ask(service, "cordless saw").cached
    new = Item(item_id="11", title="Makita Cordless Circular Saw", brand="Makita", price=149.0)
    service.add_items([new])
    after = ask(service, "cordless saw")
    assert not after.cached and ids(after)[0] == "11"
    service.set_popularity({"4": 100.0})
    assert not ask(service, "cordless saw").cached
    service.ranker = LinearRanker({"dense_cos": 1.0})
    assert not ask(service, "cordless saw").cached
    off = SearchService.build(
        make_items(),
        config=service.config.model_copy(update={"response_cache_size": 0}),
        encoder=HashingEncoder(),
        show_progress=False,
    )
    ask(off, "drill")
    assert not ask(off, "drill").cached


def test_searches_while_items_are_added_never_fail(service: SearchService) -> None:
    import threading

    failures: list[BaseException] = []
    stop = threading.Event()

    def searching() -> None:
        while not stop.is_set():
            try:
                for q in ("cordless drill", "garden hose 50 ft", "samsung"):
                    assert ask(service, q, page_size=5).total >= 0
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    threads = [threading.Thread(target=searching) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for k in range(25):
            service.add_items([Item(item_id=f"hose-{k}", title=f"Garden Hose {k} 50 ft")])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[0]
    assert ids(ask(service, "garden hose 24"))[0] == "hose-24"


def test_the_hnsw_graph_is_kept_and_read_back(
    items: list[Item], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelf.search.config import SearchConfig
    from shelf.search.dense import DenseIndex

    config = SearchConfig(hnsw_threshold=5)  # ten items: an HNSW graph
    built = SearchService.build(
        items, config=config, encoder=HashingEncoder(), show_progress=False, graph_cache=tmp_path
    )
    (graph,) = tmp_path.glob("hnsw-*.faiss")

    def no_building(self: DenseIndex, n: int) -> None:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(DenseIndex, "_new_index", no_building)
    again = SearchService.build(
        items, config=config, encoder=HashingEncoder(), show_progress=False, graph_cache=tmp_path
    )
    for q in ("cordless drill", "samsung", "leather sofa"):
        assert ids(ask(again, q)) == ids(ask(built, q))
    assert list(tmp_path.glob("hnsw-*.faiss")) == [graph]
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(AssertionError):  # other vectors: another graph, built
        SearchService.build(
            items[:8],
            config=config,
            encoder=HashingEncoder(),
            show_progress=False,
            graph_cache=tmp_path,
        )


def test_an_unreadable_kept_graph_is_built_again(items: list[Item], tmp_path: Path) -> None:
    from shelf.search.config import SearchConfig

    config = SearchConfig(hnsw_threshold=5)
    first = SearchService.build(
        items, config=config, encoder=HashingEncoder(), show_progress=False, graph_cache=tmp_path
    )
    (graph,) = tmp_path.glob("hnsw-*.faiss")
    graph.write_bytes(b"not a faiss index")  # a truncated write, a disk error
    again = SearchService.build(
        items, config=config, encoder=HashingEncoder(), show_progress=False, graph_cache=tmp_path
    )
    assert ids(ask(again, "cordless drill")) == ids(ask(first, "cordless drill"))
    assert graph.stat().st_size > 1000  # written anew


def test_warm_up_ranks_once_and_leaves_no_trace(service: SearchService) -> None:
    from shelf.search.rank import LinearRanker

    scored: list[int] = []

    class Counting(LinearRanker):
        def predict(self, features: np.ndarray, **kwargs: object) -> np.ndarray:
            scored.append(len(features))
            return super().predict(features)

    service.ranker = Counting()
    stats = service.response_cache_stats()
    generation = service._generation
    service.warm_up()
    assert len(scored) == 1 and scored[0] > 0  # one query, with candidates, ranked
    assert service.response_cache_stats() == stats  # nothing cached, nothing counted
    assert service._generation == generation
    SearchService.build([], show_progress=False).warm_up()  # an empty catalog is fine
