"""Tokenisation: English stems, stop words, units, numbers and Chinese segmentation."""

from __future__ import annotations

from shelf.text.tokenize import Analyzer


def test_english_terms() -> None:
    a = Analyzer()
    assert a.terms("The Cordless Drills of 2024") == ["cordless", "drill", "2024"]
    assert a.terms("1/2 in. copper pipes, 2.5 gal") == [
        "1/2",
        "inch",
        "copper",
        "pipe",
        "2.5",
        "gal",
    ]
    assert a.terms("60amp breaker") == ["60", "amp", "breaker"]


def test_in_is_a_unit_only_after_a_number() -> None:
    a = Analyzer()
    assert a.terms("3 in hinge") == ["3", "inch", "hing"]
    assert a.terms("built in oven") == ["built", "oven"]


def test_options_switch_stemming_and_stop_words_off() -> None:
    a = Analyzer(stem=False, stop_words=False)
    assert a.terms("the drills") == ["the", "drills"]


def test_chinese_is_segmented() -> None:
    terms = Analyzer().terms("无线电钻 cordless")
    assert terms[-1] == "cordless"
    assert "".join(terms[:-1]) == "无线电钻"
    assert len(terms) > 2
