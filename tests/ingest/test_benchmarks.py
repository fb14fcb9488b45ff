"""Benchmark loaders: sequences.txt + items.jsonl (UniSRec text) and products.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelf.catalog import Item
from shelf.errors import ValidationError
from shelf.formats.benchmarks import (
    read_products,
    read_text_items,
    segment_categories,
    split_item_text,
)
from shelf.ingest import Pseudonymizer, benchmarks
from shelf.ingest.benchmarks import load_sequences_dataset
from shelf.store import SQLStore

SCIENTIFIC = Path(__file__).resolve().parents[2] / "../shared/data/amazon-scientific"
START_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z, the synthetic clock's start


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Drill. Tools Power Tools. Bosch.", ("Drill", "Tools Power Tools", "Bosch")),
        # The title may itself hold ". ": the last two sentences are category and brand.
        ("Dr. Who mug. Home Kitchen Mugs. Acme.", ("Dr. Who mug", "Home Kitchen Mugs", "Acme")),
        ("Drill. Tools. .", ("Drill", "Tools", None)),
        ("Drill. Tools", ("Drill", "Tools", None)),
        ("  Drill.  ", ("Drill", "", None)),
    ],
)
def test_split_item_text(text: str, expected: tuple[str, str, str | None]) -> None:
    assert split_item_text(text) == expected


def test_segment_categories_splits_where_the_tree_branches() -> None:
    texts = [
        "Tools Power Tools Drills",
        "Tools Power Tools Saws",
        "Tools Hand Tools",
        "Tools Hand Tools Wrenches",  # "Tools Hand Tools" is itself a path: a name ends there
        "Garden",
        "Tools Power Tools Drills",  # repeated texts are fine
    ]
    assert segment_categories(texts) == {
        "Tools Power Tools Drills": ["Tools", "Power Tools", "Drills"],
        "Tools Power Tools Saws": ["Tools", "Power Tools", "Saws"],
        "Tools Hand Tools": ["Tools", "Hand Tools"],
        "Tools Hand Tools Wrenches": ["Tools", "Hand Tools", "Wrenches"],
        "Garden": ["Garden"],
    }


def test_segment_a_single_path_keeps_it_whole() -> None:
    assert segment_categories(["Industrial & Scientific Lab"]) == {
        "Industrial & Scientific Lab": ["Industrial & Scientific Lab"]
    }


ITEM_TEXTS = [
    {"item_id": "1", "asin": "B001", "text": "Cordless drill. Tools Power Tools Drills. Bosch."},
    {"item_id": "2", "asin": "B002", "text": "Jig saw. Tools Power Tools Saws. Makita."},
    {"item_id": "3", "text": "Spanner set. Tools Hand Tools. ."},
]


def write_dataset(folder: Path, sequences: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sequences.txt").write_text(sequences)
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ITEM_TEXTS))
    return folder / "sequences.txt", folder / "items.jsonl"


def test_read_text_items(tmp_path: Path) -> None:
    _, items = write_dataset(tmp_path, "")
    assert read_text_items(items) == [
        Item(
            item_id="1",
            title="Cordless drill",
            description="Cordless drill. Tools Power Tools Drills. Bosch.",
            category=["Tools", "Power Tools", "Drills"],
            brand="Bosch",
            attributes={"asin": "B001"},
        ),
        Item(
            item_id="2",
            title="Jig saw",
            description="Jig saw. Tools Power Tools Saws. Makita.",
            category=["Tools", "Power Tools", "Saws"],
            brand="Makita",
            attributes={"asin": "B002"},
        ),
        Item(
            item_id="3",
            title="Spanner set",
            description="Spanner set. Tools Hand Tools. .",
            category=["Tools", "Hand Tools"],
            brand=None,
        ),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"item_id": "9"}', "row 2, field 'text': is required"),
        ('{"text": "x. y. z."}', "row 2, field 'item_id': is required"),
        ('{"item_id": "9", ', "row 2: is not valid JSON"),
    ],
)
def test_read_text_items_errors_name_the_row(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(ITEM_TEXTS[0]) + "\n" + line + "\n")
    with pytest.raises(ValidationError) as caught:
        read_text_items(path)
    assert str(caught.value).startswith(f"{path}, {message}")


def test_load_sequences_dataset(
    sqlite_store: SQLStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequences, items = write_dataset(tmp_path / "data", "u1 1 2 3\n\nu2 2 4\nu3\n")
    monkeypatch.setattr(benchmarks, "BATCH", 2)  # several batches of events and of items
    seen: list[tuple[int, int]] = []
    key = tmp_path / "pseudonym.key"
    pseudonymizer = Pseudonymizer.from_key_file(key)
    got = load_sequences_dataset(
        sqlite_store, pseudonymizer, sequences, items, progress=lambda d, t: seen.append((d, t))
    )
    assert got == (4, 5)
    assert seen[-1] == (5, 5)
    # Item 4 has no text: it gets a placeholder title.
    assert sqlite_store.get_item("4") == Item(item_id="4", title="Item 4")
    assert sqlite_store.get_item("1") == read_text_items(items)[0]
    cols = sqlite_store.event_columns()
    u1, u2 = pseudonymizer.pseudonym("u1"), pseudonymizer.pseudonym("u2")
    assert cols.user_key.tolist() == [u1, u1, u1, u2, u2]
    assert cols.item_id.tolist() == ["1", "2", "3", "2", "4"]
    assert set(cols.type.tolist()) == {"purchase"}
    assert cols.timestamp_ms.tolist() == [START_MS + 1000 * k for k in range(5)]
    assert sqlite_store.counts()["users"] == 2  # u3 has no events

    # Loading the same files again adds nothing: the synthetic times are deterministic.
    again = Pseudonymizer.from_key_file(key)
    assert load_sequences_dataset(sqlite_store, again, sequences, items) == (4, 5)
    assert sqlite_store.counts() == {"items": 4, "users": 2, "events": 5, "events_purchase": 5}


def test_load_sequences_without_item_texts(sqlite_store: SQLStore, tmp_path: Path) -> None:
    sequences, _ = write_dataset(tmp_path, "7 10 11 10\n")
    pseudonymizer = Pseudonymizer.from_key_file(tmp_path / "k.key")
    assert load_sequences_dataset(sqlite_store, pseudonymizer, sequences) == (2, 3)
    assert [i.title for i in sqlite_store.iter_items()] == ["Item 10", "Item 11"]
    assert sqlite_store.event_columns().item_id.tolist() == ["10", "11", "10"]


def test_duplicate_user_in_sequences_is_an_error(sqlite_store: SQLStore, tmp_path: Path) -> None:
    sequences, items = write_dataset(tmp_path, "u1 1\nu2 2\nu1 3\n")
    pseudonymizer = Pseudonymizer.from_key_file(tmp_path / "k.key")
    with pytest.raises(ValidationError, match="row 3, field 'user_id': duplicate user id 'u1'"):
        load_sequences_dataset(sqlite_store, pseudonymizer, sequences, items)


def test_read_products(tmp_path: Path) -> None:
    path = tmp_path / "products.jsonl"
    path.write_text(
        '{"product_id": 100001, "title": "Simpson Strong-Tie 12-Gauge Angle"}\n\n'
        '{"product_id": "100002", "title": "  BEHR Premium Textured DeckOver  "}\n'
    )
    assert read_products(path) == [
        Item(item_id="100001", title="Simpson Strong-Tie 12-Gauge Angle"),
        Item(item_id="100002", title="BEHR Premium Textured DeckOver"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"title": "x"}', "row 2, field 'product_id': is required"),
        ('{"product_id": 5}', "row 2, field 'title': is required"),
        ('{"product_id": 5, "title": ""}', "row 2, field 'title': String should have at least"),
        ('{"product_id": 5, ', "row 2: is not valid JSON"),
        ("[1, 2]", "row 2: is not a JSON object"),
    ],
)
def test_read_products_errors_name_the_row(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "products.jsonl"
    path.write_text('{"product_id": 1, "title": "ok"}\n' + line + "\n")
    with pytest.raises(ValidationError) as caught:
        read_products(path)
    assert str(caught.value).startswith(f"{path}, {message}")


@pytest.mark.slow
def test_amazon_scientific_loads_every_item_and_event(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    if not (SCIENTIFIC / "sequences.txt").is_file():
        pytest.skip(f"the Amazon Scientific data set is not at {SCIENTIFIC.resolve()}")
    sequences = SCIENTIFIC / "sequences.txt"
    lengths = [len(line.split()) - 1 for line in sequences.read_text().splitlines() if line.split()]
    pseudonymizer = Pseudonymizer.from_key_file(tmp_path / "k.key")
    n_items, n_events = load_sequences_dataset(
        sqlite_store, pseudonymizer, sequences, SCIENTIFIC / "items.jsonl"
    )
    assert n_items == 4_385
    assert n_events == sum(lengths)
    counts = sqlite_store.counts()
    assert (counts["items"], counts["events"], counts["users"]) == (
        4_385,
        sum(lengths),
        sum(1 for n in lengths if n > 0),
    )
    # Every item has a title; all but the 133 whose text has an empty category sentence
    # ("title. . brand.") have a category path.
    items = list(sqlite_store.iter_items())
    assert all(item.title for item in items)
    uncategorised = [item for item in items if not item.category]
    assert len(uncategorised) == 133
    assert all(". . " in item.description for item in uncategorised)
