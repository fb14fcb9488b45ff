"""Importing files: the three formats alike, all-or-nothing files, rejects, dedupe, privacy."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from shelf.catalog import Item, parse_event
from shelf.errors import ImportRejected, Rejection, ValidationError
from shelf.ingest import Pseudonymizer, import_events, import_items, store_events
from shelf.store import SQLStore

FORMATS = ["csv", "jsonl", "parquet"]
CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # = 1704164645 s
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # = 1714564800 s


# -- writing files -----------------------------------------------------------------------------
def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


# The same three items, each format in its own native types.
ITEMS_CSV = [
    {
        "item_id": "d1", "title": "Cordless drill", "description": "18 V", "category":
        "Tools > Drills", "brand": "Bosch", "price": "$1,299.50", "currency": "eur",
        "available": "false", "created_at": "2024-01-02T05:04:05+02:00",
        "attributes": '{"color": "green"}',
    },
    {
        "item_id": "d2", "title": "Hammer", "description": "", "category": "Tools", "brand": "",
        "price": "12", "currency": "", "available": "", "created_at": "1704164645000",
        "attributes": "",
    },
    {
        "item_id": "3", "title": "Saw", "description": "", "category": "", "brand": "Stanley",
        "price": "", "currency": "", "available": "1", "created_at": "", "attributes": "",
    },
]  # fmt: skip
ITEMS_JSONL = [
    {
        "item_id": "d1", "title": "Cordless drill", "description": "18 V",
        "category": ["Tools", "Drills"], "brand": "Bosch", "price": 1299.5, "currency": "EUR",
        "available": False, "created_at": "2024-01-02T03:04:05Z",
        "attributes": {"color": "green"},
    },
    {
        "item_id": "d2", "title": "Hammer", "category": "Tools", "price": 12,
        "created_at": 1704164645, "brand": None,
    },
    {"item_id": 3, "title": "Saw", "brand": "Stanley", "price": None, "available": True},
]  # fmt: skip
ITEMS_PARQUET_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("category", pa.list_(pa.string())),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("currency", pa.string()),
        ("available", pa.bool_()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("attributes", pa.string()),
    ]
)
ITEMS_PARQUET = [
    {
        "item_id": "d1", "title": "Cordless drill", "description": "18 V",
        "category": ["Tools", "Drills"], "brand": "Bosch", "price": 1299.5, "currency": "EUR",
        "available": False, "created_at": CREATED, "attributes": '{"color": "green"}',
    },
    {
        "item_id": "d2", "title": "Hammer", "description": None, "category": ["Tools"],
        "brand": None, "price": 12.0, "currency": None, "available": None,
        "created_at": CREATED, "attributes": None,
    },
    {
        "item_id": "3", "title": "Saw", "description": None, "category": None,
        "brand": "Stanley", "price": None, "currency": None, "available": True,
        "created_at": None, "attributes": None,
    },
]  # fmt: skip
EXPECTED_ITEMS = [
    Item(item_id="3", title="Saw", brand="Stanley"),
    Item(
        item_id="d1",
        title="Cordless drill",
        description="18 V",
        category=["Tools", "Drills"],
        brand="Bosch",
        price=1299.5,
        currency="EUR",
        attributes={"color": "green"},
        available=False,
        created_at=CREATED,
    ),
    Item(item_id="d2", title="Hammer", category=["Tools"], price=12.0, created_at=CREATED),
]


def write_items(path: Path, fmt: str) -> Path:
    if fmt == "csv":
        return write_csv(path.with_suffix(".csv"), ITEMS_CSV)
    if fmt == "jsonl":
        return write_jsonl(path.with_suffix(".jsonl"), ITEMS_JSONL)
    return write_parquet(path.with_suffix(".parquet"), ITEMS_PARQUET, ITEMS_PARQUET_SCHEMA)


EVENTS_CSV = [
    {"event_id": "", "user_id": "alice", "item_id": "d1", "type": "view", "value": "",
     "timestamp": "2024-05-01T12:00:00Z", "session_id": "s1", "query": ""},
    {"event_id": "", "user_id": "alice", "item_id": "", "type": "search", "value": "",
     "timestamp": "1714564801", "session_id": "s1", "query": "saw"},
    {"event_id": "e-3", "user_id": "42", "item_id": "3", "type": "rating", "value": "4.5",
     "timestamp": "1714564802000", "session_id": "", "query": ""},
]  # fmt: skip
EVENTS_JSONL = [
    {"user_id": "alice", "item_id": "d1", "type": "view", "timestamp": "2024-05-01T14:00:00+02:00",
     "session_id": "s1"},
    {"user_id": "alice", "type": "search", "timestamp": 1714564801, "session_id": "s1",
     "query": "saw", "item_id": None},
    {"event_id": "e-3", "user_id": 42, "item_id": 3, "type": "rating", "value": 4.5,
     "timestamp": 1714564802000},
]  # fmt: skip
EVENTS_PARQUET_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("session_id", pa.string()),
        ("query", pa.string()),
    ]
)
EVENTS_PARQUET = [
    {"event_id": None, "user_id": "alice", "item_id": "d1", "type": "view", "value": None,
     "timestamp": T0, "session_id": "s1", "query": None},
    {"event_id": None, "user_id": "alice", "item_id": None, "type": "search", "value": None,
     "timestamp": datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC), "session_id": "s1", "query": "saw"},
    {"event_id": "e-3", "user_id": "42", "item_id": "3", "type": "rating", "value": 4.5,
     "timestamp": datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC), "session_id": None, "query": None},
]  # fmt: skip


def write_events(path: Path, fmt: str) -> Path:
    if fmt == "csv":
        return write_csv(path.with_suffix(".csv"), EVENTS_CSV)
    if fmt == "jsonl":
        return write_jsonl(path.with_suffix(".jsonl"), EVENTS_JSONL)
    return write_parquet(path.with_suffix(".parquet"), EVENTS_PARQUET, EVENTS_PARQUET_SCHEMA)


@pytest.fixture
def pseudonymizer(tmp_path: Path) -> Pseudonymizer:
    return Pseudonymizer.from_key_file(tmp_path / "keys" / "pseudonym.key")


def simple_items(n: int) -> list[dict[str, Any]]:
    return [
        {"item_id": f"i{k:05d}", "title": f"Item {k}", "price": k % 50} for k in range(1, n + 1)
    ]


# -- the three formats -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_items_import_identically_from_every_format(
    sqlite_store: SQLStore, tmp_path: Path, fmt: str
) -> None:
    report = import_items(sqlite_store, write_items(tmp_path / "items", fmt))
    assert (report.kind, report.read, report.stored, report.invalid) == ("items", 3, 3, 0)
    assert list(sqlite_store.iter_items()) == EXPECTED_ITEMS


@pytest.mark.parametrize("fmt", FORMATS)
def test_events_import_identically_from_every_format(
    sqlite_store: SQLStore, pseudonymizer: Pseudonymizer, tmp_path: Path, fmt: str
) -> None:
    sqlite_store.upsert_items(EXPECTED_ITEMS)
    report = import_events(sqlite_store, pseudonymizer, write_events(tmp_path / "events", fmt))
    assert (report.kind, report.read, report.stored, report.duplicates) == ("events", 3, 3, 0)
    cols = sqlite_store.event_columns()
    alice, other = pseudonymizer.pseudonym("alice"), pseudonymizer.pseudonym("42")
    t0 = 1_714_564_800_000
    assert cols.timestamp_ms.tolist() == [t0, t0 + 1000, t0 + 2000]
    assert cols.user_key.tolist() == [alice, alice, other]
    assert cols.item_id.tolist() == ["d1", None, "3"]
    assert cols.type.tolist() == ["view", "search", "rating"]
    assert cols.session_id.tolist() == ["s1", "s1", None]
    assert cols.value[2] == 4.5
    stored = sqlite_store.user_events(other)
    assert [(e.event_id, e.query) for e in stored] == [("e-3", None)]
    assert [e.query for e in sqlite_store.user_events(alice)] == [None, "saw"]


def test_csv_rows_are_records_not_lines(sqlite_store: SQLStore, tmp_path: Path) -> None:
    """A byte-order mark is not part of the first column, and a quoted newline is not a row."""
    path = tmp_path / "items.csv"
    path.write_text(
        'item_id,title,description\na,A,"two\nlines"\nb,,x\nc,C,\n', encoding="utf-8-sig"
    )
    with pytest.raises(ImportRejected) as caught:
        import_items(sqlite_store, path)
    assert caught.value.rejections == [Rejection(2, "title", "is required")]
    report = import_items(sqlite_store, path, skip_invalid=True)
    assert (report.read, report.stored, report.invalid) == (3, 2, 1)
    assert sqlite_store.get_item("a") == Item(item_id="a", title="A", description="two\nlines")


def test_parquet_struct_attributes_with_missing_keys(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    """A struct column has every key in every row; a key a row lacks comes back as null."""
    rows = [
        {"item_id": "a", "title": "A", "attributes": {"color": "red", "watts": 18}},
        {"item_id": "b", "title": "B", "attributes": {"color": "blue"}},
    ]
    path = tmp_path / "items.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert import_items(sqlite_store, path).stored == 2
    assert [i.attributes for i in sqlite_store.iter_items()] == [
        {"color": "red", "watts": 18},
        {"color": "blue"},
    ]


def test_format_is_overridable(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "catalog.txt"
    write_jsonl(path, ITEMS_JSONL)
    with pytest.raises(ValidationError, match=r"cannot tell the format from extension '\.txt'"):
        import_items(sqlite_store, path)
    assert import_items(sqlite_store, path, fmt="JSONL").stored == 3
    with pytest.raises(ValidationError, match="unknown format 'xml'"):
        import_items(sqlite_store, path, fmt="xml")


def test_missing_file(sqlite_store: SQLStore, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        import_items(sqlite_store, tmp_path / "absent.csv")


def test_progress_reports_rows_read(sqlite_store: SQLStore, tmp_path: Path) -> None:
    seen: list[int] = []
    path = write_jsonl(tmp_path / "items.jsonl", simple_items(25))
    import_items(sqlite_store, path, batch_size=10, progress=seen.append)
    assert seen[-1] == 25
    assert seen == sorted(seen)
    assert sqlite_store.counts()["items"] == 25


# -- all or nothing ----------------------------------------------------------------------------
BAD_ROW = 7_777


def write_with_one_bad_row(path: Path, fmt: str) -> tuple[Path, Rejection]:
    """10,000 items, row 1 updating the pre-existing item; row 7,777 malformed."""
    rows = simple_items(10_000)
    rows[0]["title"] = "after"
    if fmt == "csv":
        path = write_csv(path.with_suffix(".csv"), rows)
        lines = path.read_text().splitlines()
        lines[BAD_ROW] += ",surplus"  # line 0 is the header
        path.write_text("\n".join(lines) + "\n")
        return path, Rejection(BAD_ROW, None, "has 4 columns, the header has 3")
    if fmt == "jsonl":
        path = write_jsonl(path.with_suffix(".jsonl"), rows)
        lines = path.read_text().splitlines()
        lines[BAD_ROW - 1] = lines[BAD_ROW - 1][:-1]  # the closing brace lost
        path.write_text("\n".join(lines) + "\n")
        # The parser wants a ',' (or '}') just after the end of the cut line.
        column = len(lines[BAD_ROW - 1]) + 1
        reason = f"is not valid JSON (Expecting ',' delimiter at column {column})"
        return path, Rejection(BAD_ROW, None, reason)
    rows[BAD_ROW - 1]["price"] = -3
    schema = pa.schema([("item_id", pa.string()), ("title", pa.string()), ("price", pa.int64())])
    path = write_parquet(path.with_suffix(".parquet"), rows, schema)
    return path, Rejection(BAD_ROW, "price", "Input should be greater than or equal to 0")


def check_one_bad_row_in_ten_thousand(store: SQLStore, tmp_path: Path, fmt: str) -> None:
    store.upsert_items([Item(item_id="i00001", title="before")])
    path, rejection = write_with_one_bad_row(tmp_path / "items", fmt)
    with pytest.raises(ImportRejected) as caught:
        # The bad row is in the second batch: the first was written, then rolled back.
        import_items(store, path, batch_size=5000)
    assert caught.value.rejections == [rejection]
    assert caught.value.total_invalid == 1
    message = str(caught.value)
    assert message.startswith(f"{path}: 1 invalid row(s); nothing was imported")
    assert f"row {BAD_ROW}: " in message
    assert store.counts() == {"items": 1, "users": 0, "events": 0}
    assert store.get_item("i00001") == Item(item_id="i00001", title="before")


def test_one_bad_row_in_ten_thousand_leaves_the_store_unchanged(
    store: SQLStore, tmp_path: Path
) -> None:
    """The issue's done-when, on every backend."""
    check_one_bad_row_in_ten_thousand(store, tmp_path, "jsonl")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_bad_row_in_ten_thousand_in_other_formats(
    sqlite_store: SQLStore, tmp_path: Path, fmt: str
) -> None:
    check_one_bad_row_in_ten_thousand(sqlite_store, tmp_path, fmt)


def test_one_bad_event_in_ten_thousand_stores_nothing(
    store: SQLStore, pseudonymizer: Pseudonymizer, tmp_path: Path
) -> None:
    store.upsert_items([Item(item_id="a", title="A")])
    rows: list[dict[str, Any]] = [
        {"user_id": f"u{k % 97}", "item_id": "a", "type": "view", "timestamp": 1_700_000_000 + k}
        for k in range(10_000)
    ]
    rows[9_998]["type"] = "like"
    path = write_jsonl(tmp_path / "events.jsonl", rows)
    with pytest.raises(ImportRejected) as caught:
        import_events(store, pseudonymizer, path, batch_size=4000)
    [rejection] = caught.value.rejections
    assert (rejection.row, rejection.field) == (9_999, "type")
    assert rejection.reason.startswith("Input should be 'view', 'click'")
    assert store.counts() == {"items": 1, "users": 0, "events": 0}


def test_rejection_lists_every_bad_row_up_to_a_limit(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    rows = simple_items(100)
    for k in range(0, 100, 4):  # rows 1, 5, 9, ... 97: 25 bad rows
        rows[k]["price"] = "n/a"
    with pytest.raises(ImportRejected) as caught:
        import_items(sqlite_store, write_jsonl(tmp_path / "items.jsonl", rows), batch_size=10)
    error = caught.value
    assert error.total_invalid == 25
    assert [r.row for r in error.rejections] == list(range(1, 80, 4))  # the first 20
    assert {(r.field, r.reason) for r in error.rejections} == {("price", "'n/a' is not a number")}
    assert str(error).endswith("  ... and 5 more")
    assert sqlite_store.counts()["items"] == 0


# -- skip invalid ------------------------------------------------------------------------------
def test_skip_invalid_imports_the_good_rows_and_writes_the_rejects(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    rows = [
        {"item_id": "a", "title": "A", "price": "1"},
        {"item_id": "b", "title": "", "price": "2"},
        {"item_id": "c", "title": "C", "price": "3"},
        {"item_id": "d", "title": "D", "price": "abc"},
        {"item_id": "e", "title": "E", "price": ""},
    ]
    path = write_csv(tmp_path / "items.csv", rows)
    rejects = tmp_path / "out" / "rejects.jsonl"
    report = import_items(sqlite_store, path, skip_invalid=True, rejects_path=rejects)
    assert (report.read, report.stored, report.invalid) == (5, 3, 2)
    assert report.rejects_path == rejects
    assert [i.item_id for i in sqlite_store.iter_items()] == ["a", "c", "e"]
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert written == [
        {
            "row": 2,
            "field": "title",
            "reason": "is required",
            "record": {"item_id": "b", "price": "2"},
        },
        {
            "row": 4,
            "field": "price",
            "reason": "'abc' is not a number",
            "record": {"item_id": "d", "title": "D", "price": "abc"},
        },
    ]


def test_skip_invalid_rejects_unreadable_lines(sqlite_store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = [
        '{"item_id": "a", "title": "A"}',
        "[1, 2]",
        '{"item_id": ',
        "",
        '{"item_id": "b", "title": "B"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    report = import_items(sqlite_store, path, skip_invalid=True, rejects_path=rejects)
    assert (report.read, report.stored, report.invalid) == (4, 2, 2)
    written = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(w["row"], w["field"], w["record"]) for w in written] == [
        (2, None, None),
        (3, None, None),
    ]
    assert written[0]["reason"] == "is not a JSON object"
    assert written[1]["reason"].startswith("is not valid JSON (Expecting value")


# -- duplicates --------------------------------------------------------------------------------
def test_duplicate_item_ids_in_one_file_last_row_wins(
    sqlite_store: SQLStore, tmp_path: Path
) -> None:
    rows = [
        {"item_id": "a", "title": "first"},
        {"item_id": "b", "title": "B"},
        {"item_id": "a", "title": "second"},
        {"item_id": "c", "title": "C"},
        {"item_id": "a", "title": "third", "price": 9},
    ]
    for batch_size in (100, 2):  # within one batch, and across batches
        import_items(
            sqlite_store, write_jsonl(tmp_path / "items.jsonl", rows), batch_size=batch_size
        )
        assert sqlite_store.get_item("a") == Item(item_id="a", title="third", price=9)
        assert sqlite_store.counts()["items"] == 3


EVENTS_WITH_DUPLICATES = [
    {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": 1_700_000_000},
    {"user_id": "u1", "item_id": "a", "type": "click", "timestamp": 1_700_000_000},
    {"user_id": "u2", "item_id": "a", "type": "view", "timestamp": 1_700_000_000},
    # Same user, item, type and time as row 1 (the same instant written in milliseconds).
    {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": 1_700_000_000_000},
    {"event_id": "x", "user_id": "u3", "item_id": "a", "type": "purchase", "timestamp": 1},
    # Same event id as row 5, whatever else it says.
    {"event_id": "x", "user_id": "u4", "item_id": "a", "type": "view", "timestamp": 2},
]


def test_duplicates_are_stored_once_and_counted(
    sqlite_store: SQLStore, pseudonymizer: Pseudonymizer, tmp_path: Path
) -> None:
    sqlite_store.upsert_items([Item(item_id="a", title="A")])
    path = write_jsonl(tmp_path / "events.jsonl", EVENTS_WITH_DUPLICATES)
    report = import_events(sqlite_store, pseudonymizer, path)
    assert (report.read, report.stored, report.duplicates) == (6, 4, 2)
    # Re-importing the same file stores nothing new.
    again = import_events(sqlite_store, pseudonymizer, path, batch_size=2)
    assert (again.read, again.stored, again.duplicates) == (6, 0, 6)
    assert sqlite_store.counts()["events"] == 4


# -- unknown items -----------------------------------------------------------------------------
def test_events_naming_unknown_items_are_rejected(
    sqlite_store: SQLStore, pseudonymizer: Pseudonymizer, tmp_path: Path
) -> None:
    sqlite_store.upsert_items([Item(item_id="a", title="A")])
    rows: list[dict[str, Any]] = [
        {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": k} for k in range(5)
    ]
    rows[2]["item_id"] = "ghost"
    path = write_csv(tmp_path / "events.csv", rows)
    with pytest.raises(ImportRejected) as caught:
        import_events(sqlite_store, pseudonymizer, path)
    assert caught.value.rejections == [
        Rejection(3, "item_id", "item 'ghost' is not in the catalog")
    ]
    assert sqlite_store.counts()["events"] == 0

    rejects = tmp_path / "rejects.jsonl"
    report = import_events(
        sqlite_store, pseudonymizer, path, skip_invalid=True, rejects_path=rejects
    )
    assert (report.stored, report.invalid) == (4, 1)
    [written] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (written["row"], written["field"], written["reason"]) == (
        3,
        "item_id",
        "item 'ghost' is not in the catalog",
    )
    assert sqlite_store.counts()["events"] == 4


def test_store_events_is_all_or_nothing(
    sqlite_store: SQLStore, pseudonymizer: Pseudonymizer
) -> None:
    sqlite_store.upsert_items([Item(item_id="a", title="A")])
    events = [
        parse_event({"user_id": "u", "item_id": item, "type": "view", "timestamp": k})
        for k, item in enumerate(["a", "a", "ghost"])
    ]
    with pytest.raises(ValidationError) as caught:
        store_events(sqlite_store, pseudonymizer, events)
    assert (caught.value.row, caught.value.field) == (3, "item_id")
    assert sqlite_store.counts()["events"] == 0
    assert store_events(sqlite_store, pseudonymizer, events[:2] + events[:1]) == (2, 1)
    assert store_events(sqlite_store, pseudonymizer, events[:2]) == (0, 2)


# -- privacy -----------------------------------------------------------------------------------
RAW_USERS = ["alice.raw-7f3a@example.com", "bob.raw-91c2@example.com"]


def test_raw_user_ids_never_reach_the_database(
    tmp_path: Path, pseudonymizer: Pseudonymizer
) -> None:
    from shelf.store import open_store

    db = tmp_path / "db" / "shelf.db"
    store = open_store(f"sqlite:///{db}")
    store.upsert_items([Item(item_id="a", title="Marker-Title-5e1d")])
    rows = [
        {"user_id": user, "item_id": "a", "type": "view", "timestamp": k, "session_id": "s"}
        for k, user in enumerate(RAW_USERS * 3)
    ]
    import_events(store, pseudonymizer, write_jsonl(tmp_path / "events.jsonl", rows))

    # Every text column of every table, read back.
    with store.engine.connect() as conn:
        listed = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [r[0] for r in listed]
        cells = [
            str(value)
            for table in tables
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            for value in row
        ]
    assert "Marker-Title-5e1d" in cells  # the read-back sees stored text
    for user in RAW_USERS:
        assert not any(user in cell or user.split("@")[0] in cell for cell in cells)
        assert pseudonymizer.pseudonym(user) in cells
    store.close()

    # And the bytes of the database files themselves (main file and write-ahead log).
    files = sorted(db.parent.glob("shelf.db*"))
    data = b"".join(f.read_bytes() for f in files)
    assert b"Marker-Title-5e1d" in data
    for user in RAW_USERS:
        assert user.split("@")[0].encode() not in data
