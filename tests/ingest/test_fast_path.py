"""The fast path for plain event rows must agree with the exact (pydantic) path."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from shelf.catalog import parse_event
from shelf.errors import ValidationError
from shelf.ingest.importer import fast_stored_event, to_stored
from shelf.ingest.pseudonym import Pseudonymizer

PSEUDO = Pseudonymizer(b"k" * 32)

PLAIN = [
    {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "1700000000"},
    {"user_id": " u1 ", "item_id": "i1 ", "type": "purchase", "timestamp": 1700000000123},
    {"user_id": "u1", "item_id": "7", "type": "click", "timestamp": "99999999999"},
    {"user_id": "u1", "item_id": "7", "type": "add_to_cart", "timestamp": "100000000001"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "0", "session_id": "s1"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "5", "event_id": "e-1"},
]
NEEDS_EXACT = [
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "2023-11-14T22:13:20Z"},
    {"user_id": "u", "item_id": "i", "type": "rating", "timestamp": "1", "value": "4"},
    {"user_id": "u", "type": "search", "timestamp": "1", "query": "drill"},
    {"user_id": "ü", "item_id": "i", "type": "view", "timestamp": "1"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "1", "session_id": " "},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": 1.5},
    {"user_id": 5, "item_id": "i", "type": "view", "timestamp": "1"},
]
INVALID = [
    {"user_id": "", "item_id": "i", "type": "view", "timestamp": "1"},
    {"user_id": "u", "item_id": "i", "type": "zap", "timestamp": "1"},
    {"user_id": "u", "type": "view", "timestamp": "1"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "-1"},
    {"user_id": "u\x00", "item_id": "i", "type": "view", "timestamp": "1"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "99999999999999999"},
    {"user_id": "u", "item_id": "x" * 257, "type": "view", "timestamp": "1"},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": True},
    {"user_id": "u", "item_id": "i", "type": "view", "timestamp": "1", "colour": "red"},
]


@pytest.mark.parametrize("record", PLAIN)
def test_plain_rows_take_the_fast_path_and_match_the_exact_path(record: dict[str, object]) -> None:
    fast = fast_stored_event(record, PSEUDO)
    assert fast is not None
    assert fast == to_stored(parse_event(record), PSEUDO)


@pytest.mark.parametrize("record", NEEDS_EXACT)
def test_other_valid_rows_are_left_to_the_exact_path(record: dict[str, object]) -> None:
    assert fast_stored_event(record, PSEUDO) is None
    parse_event(record)  # and the exact path accepts them


@pytest.mark.parametrize("record", INVALID)
def test_invalid_rows_are_never_accepted_by_the_fast_path(record: dict[str, object]) -> None:
    assert fast_stored_event(record, PSEUDO) is None
    with pytest.raises(ValidationError):
        parse_event(record)


_text = st.one_of(
    st.text(max_size=6), st.sampled_from(["", " ", "u1", " x ", "\x00", "é"]), st.integers()
)
_records = st.fixed_dictionaries(
    {
        "user_id": _text,
        "item_id": _text,
        "type": st.sampled_from(["view", "click", "purchase", "rating", "search", "bad", ""]),
        "timestamp": st.one_of(
            st.integers(min_value=-5, max_value=10**16),
            st.integers(min_value=0, max_value=10**15).map(str),
            st.sampled_from(["", " 12 ", "1e5", "٣", "2023-01-01"]),
            st.floats(allow_nan=True),
        ),
    },
    optional={"session_id": _text, "event_id": _text, "value": _text},
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_records)
def test_fast_path_agrees_with_the_exact_path_on_generated_rows(record: dict[str, object]) -> None:
    fast = fast_stored_event(record, PSEUDO)
    if fast is None:
        return
    assert fast == to_stored(parse_event(record), PSEUDO)


def test_import_uses_both_paths_with_one_result(tmp_path: Path) -> None:
    from shelf.ingest import import_events, import_items
    from shelf.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\ni1,A\n")
    import_items(store, items)
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,type,timestamp\n"
        "u1,i1,view,1700000000\n"  # fast
        "u1,i1,view,2023-11-14T22:13:20Z\n"  # exact: the same moment, so a duplicate
        "u1,i1,click,1700000001000\n"  # fast, milliseconds
    )
    pseudo = Pseudonymizer(b"k" * 32)
    report = import_events(store, pseudo, events)
    assert (report.stored, report.duplicates) == (2, 1)
    columns = store.event_columns()
    assert list(columns.timestamp_ms) == [1_700_000_000_000, 1_700_000_001_000]
