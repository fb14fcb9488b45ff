"""Query understanding, spelling correction and synonyms with known answers."""

from __future__ import annotations

import pytest

from shelf.search.spelling import SpellingCorrector, max_edits
from shelf.search.understand import QueryUnderstanding, SynonymMap, parse_price
from shelf.text.tokenize import Analyzer


@pytest.mark.parametrize(
    ("query", "rest", "low", "high"),
    [
        ("cordless drill under $100", "cordless drill", None, 100.0),
        ("lamp below 25 dollars", "lamp", None, 25.0),
        ("drill between 10 and 50", "drill", 10.0, 50.0),
        ("saw $40-$20", "saw", 20.0, 40.0),
        ("paint over $30", "paint", 30.0, None),
        ("sofa from $1,200", "sofa", 1200.0, None),
        ("1/2 in. pvc pipe", "1/2 in. pvc pipe", None, None),
        ("100 ft garden hose", "100 ft garden hose", None, None),
    ],
)
def test_price_phrases(query: str, rest: str, low: float | None, high: float | None) -> None:
    assert parse_price(query) == (rest, low, high)


def test_spelling_corrects_to_the_most_frequent_close_word() -> None:
    speller = SpellingCorrector(min_count=1)
    speller.add_documents(
        [["refrigerator", "door"], ["refrigerator"], ["everbilt", "hinge"], ["drill"]]
    )
    assert speller.correct_word("refridgerator") == "refrigerator"
    assert speller.correct_word("everblit") == "everbilt"  # a transposition is one edit
    assert speller.correct_word("drill") is None  # known
    assert speller.correct_word("dril") == "drill"  # 4 letters: one edit allowed
    assert speller.correct(["hingee", "pvc"]) == (["hinge", "pvc"], {"hingee": "hinge"})


def test_short_words_and_numbers_are_left_alone() -> None:
    assert max_edits("tv") == 0
    speller = SpellingCorrector(min_count=1)
    speller.add_documents([["tv", "2x4"]])
    assert speller.correct_word("tc") is None
    assert speller.correct_word("2x5") is None


def test_synonyms_expand_both_ways_on_stems() -> None:
    synonyms = SynonymMap([["sofa", "couch"], ["tv", "television"]])
    assert synonyms.expand(["couch"]) == ["sofa"]
    assert synonyms.expand(["sofa"]) == ["couch"]
    assert synonyms.expand(Analyzer().terms("televisions")) == ["tv"]
    assert synonyms.expand(["drill"]) == []


def test_brand_and_attribute_values_come_from_the_catalog_vocabulary() -> None:
    understanding = QueryUnderstanding(
        Analyzer(),
        brands={"samsung": "Samsung", "black & decker": "BLACK & DECKER"},
        attribute_values={"color": {"red": "Red"}, "material": {"leather": "Leather"}},
    )
    q = understanding.understand("Samsung 4k tv under $500")
    assert (q.brands, q.price_max, q.terms) == (["Samsung"], 500.0, ["samsung", "4", "k", "tv"])
    q = understanding.understand("red leather sofa")
    assert q.attributes == {"color": ["Red"], "material": ["Leather"]}
    assert understanding.understand("blue sofa").attributes == {}
