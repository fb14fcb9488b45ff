"""The command line through typer's runner: imports, users, stats, demo."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelf.cli import app, main
from shelf.errors import ImportRejected
from shelf.ingest import Pseudonymizer
from shelf.store import open_store

runner = CliRunner()

ITEMS = [
    {"item_id": "a", "title": "Drill", "category": "Tools > Drills"},
    {"item_id": "b", "title": "Saw", "category": "Tools > Saws"},
]
EVENTS = [
    {"user_id": "alice", "item_id": "a", "type": "view", "timestamp": 1_700_000_000},
    {"user_id": "alice", "item_id": "b", "type": "purchase", "timestamp": 1_700_000_100},
    {"user_id": "bob", "item_id": "a", "type": "view", "timestamp": 1_700_000_050},
]


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def store_counts(data: Path) -> dict[str, int]:
    store = open_store(f"sqlite:///{data / 'shelf.db'}")
    try:
        return store.counts()
    finally:
        store.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def stocked(data: Path, tmp_path: Path) -> Path:
    result = runner.invoke(
        app, ["--data-dir", str(data), "import", "items", str(jsonl(tmp_path / "i.jsonl", ITEMS))]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["--data-dir", str(data), "import", "events", str(jsonl(tmp_path / "e.jsonl", EVENTS))],
    )
    assert result.exit_code == 0, result.output
    return data


def test_import_items_and_events(stocked: Path) -> None:
    assert stat.S_IMODE((stocked / "pseudonym.key").stat().st_mode) == 0o600
    assert store_counts(stocked) == {
        "items": 2,
        "users": 2,
        "events": 3,
        "events_view": 2,
        "events_purchase": 1,
    }


def test_import_reports_what_it_did(data: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "items.jsonl", [*ITEMS, ITEMS[0]])
    result = runner.invoke(app, ["--data-dir", str(data), "import", "items", str(path)])
    assert result.exit_code == 0, result.output
    assert "items: read 3, stored 2, duplicates 1, invalid 0" in result.stderr


def test_reimporting_events_stores_none(stocked: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    result = runner.invoke(app, ["--data-dir", str(stocked), "import", "events", str(path)])
    assert result.exit_code == 0, result.output
    assert "events: read 3, stored 0, duplicates 3, invalid 0" in result.stderr
    assert store_counts(stocked)["events"] == 3


def test_bad_file_exits_nonzero_and_names_the_row(data: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "items.jsonl", [ITEMS[0], {"item_id": "c"}, ITEMS[1]])
    result = runner.invoke(app, ["--data-dir", str(data), "import", "items", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ImportRejected)
    assert "row 2: field 'title': is required" in str(result.exception)
    assert store_counts(data)["items"] == 0


def test_bad_file_message_from_the_console_script(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = jsonl(tmp_path / "items.jsonl", [ITEMS[0], {"item_id": "c"}, ITEMS[1]])
    monkeypatch.setattr(
        sys, "argv", ["shelf", "--data-dir", str(data), "import", "items", str(path)]
    )
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 1
    err = " ".join(capsys.readouterr().err.split())  # as rich wrapped it, unwrapped
    assert "error:" in err
    assert "1 invalid row(s); nothing was imported" in err
    assert "row 2: field 'title': is required" in err


def test_skip_invalid_writes_rejects(data: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "items.jsonl", [ITEMS[0], {"item_id": "c"}, ITEMS[1]])
    rejects = tmp_path / "rejects.jsonl"
    args = ["import", "items", str(path), "--skip-invalid", "--rejects", str(rejects)]
    result = runner.invoke(app, ["--data-dir", str(data), *args])
    assert result.exit_code == 0, result.output
    assert "stored 2" in result.stderr and "invalid 1" in result.stderr
    [written] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (written["row"], written["field"], written["reason"]) == (2, "title", "is required")
    assert store_counts(data)["items"] == 2


def test_skip_invalid_has_a_default_rejects_file(data: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "items.jsonl", [ITEMS[0], {"item_id": "c"}])
    result = runner.invoke(
        app, ["--data-dir", str(data), "import", "items", str(path), "--skip-invalid"]
    )
    assert result.exit_code == 0, result.output
    [rejects] = list((data / "rejects").glob("items-*.jsonl"))
    assert json.loads(rejects.read_text())["row"] == 2


def test_events_with_unknown_items_exit_nonzero(stocked: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "ghost.jsonl", [{**EVENTS[0], "item_id": "ghost"}])
    result = runner.invoke(app, ["--data-dir", str(stocked), "import", "events", str(path)])
    assert result.exit_code != 0
    assert "row 1: field 'item_id': item 'ghost' is not in the catalog" in str(result.exception)


def test_format_option(data: Path, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "items.data", ITEMS)
    result = runner.invoke(
        app, ["--data-dir", str(data), "import", "items", str(path), "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    assert store_counts(data)["items"] == 2


def test_users_delete(stocked: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(stocked), "users", "delete", "alice"])
    assert result.exit_code == 0, result.output
    assert "erased: 2 events deleted" in result.stderr
    assert store_counts(stocked) == {"items": 2, "users": 1, "events": 1, "events_view": 1}
    again = runner.invoke(app, ["--data-dir", str(stocked), "users", "delete", "alice"])
    assert "erased: 0 events deleted" in again.stderr
    listed = runner.invoke(app, ["--data-dir", str(stocked), "erasures", "list"])
    (erasure,) = json.loads(listed.stdout)
    assert erasure["completed_ms"] is not None  # no trained model held alice
    assert "alice" not in listed.stdout


def test_stats(stocked: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(stocked), "stats"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "store": {"items": 2, "users": 2, "events": 3, "events_view": 2, "events_purchase": 1},
        "backend": "sqlite",
    }


def test_db_url_option_selects_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    path = jsonl(tmp_path / "items.jsonl", ITEMS)
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path / "d"), "--db-url", url, "import", "items", str(path)]
    )
    assert result.exit_code == 0, result.output
    store = open_store(url)
    assert store.counts()["items"] == 2
    store.close()
    assert not (tmp_path / "d" / "shelf.db").exists()


def test_data_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELF_DATA_DIR", str(tmp_path / "env-data"))
    path = jsonl(tmp_path / "items.jsonl", ITEMS)
    result = runner.invoke(app, ["import", "items", str(path)])
    assert result.exit_code == 0, result.output
    assert store_counts(tmp_path / "env-data")["items"] == 2


def test_import_sequences_and_products(data: Path, tmp_path: Path) -> None:
    (tmp_path / "sequences.txt").write_text("u1 1 2\nu2 2\n")
    items = jsonl(tmp_path / "items.jsonl", [{"item_id": "1", "text": "Drill. Tools. Bosch."}])
    args = ["import", "sequences", str(tmp_path / "sequences.txt"), "--items", str(items)]
    result = runner.invoke(app, ["--data-dir", str(data), *args])
    assert result.exit_code == 0, result.output
    assert "loaded 2 items and 3 events" in result.stderr
    products = jsonl(tmp_path / "products.jsonl", [{"product_id": 9, "title": "Deck paint"}])
    result = runner.invoke(app, ["--data-dir", str(data), "import", "products", str(products)])
    assert result.exit_code == 0, result.output
    assert "loaded 1 items" in result.stderr
    assert store_counts(data) == {"items": 3, "users": 2, "events": 3, "events_purchase": 3}


def test_demo_with_missing_data_says_so_and_exits_2(data: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(
        app, ["--data-dir", str(data), "demo", "--no-serve", "--data", str(missing)]
    )
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "demo data not found" in err
    assert f"expected {missing / 'sequences.txt'}" in result.stderr.replace("\n", "")
    assert "Pass --data PATH to a folder holding both" in err
    assert not (data / "shelf.db").exists()  # nothing created


def test_demo_loads_a_folder(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "sequences.txt").write_text("u1 0 1\nu2 1\n")
    jsonl(
        folder / "items.jsonl",
        [
            {"item_id": "0", "text": "Filament. Industrial 3D Printing. eSUN."},
            {"item_id": "1", "text": "Nozzle. Industrial 3D Parts. Creality."},
        ],
    )
    result = runner.invoke(
        app, ["--data-dir", str(data), "demo", "--no-serve", "--no-deep", "--data", str(folder)]
    )
    assert result.exit_code == 0, result.output
    assert "demo catalog: 2 items, 3 events" in result.stderr
    store = open_store(f"sqlite:///{data / 'shelf.db'}")
    try:
        item = store.get_item("0")
        assert item is not None
        assert (item.title, item.category, item.brand) == (
            "Filament",
            ["Industrial 3D", "Printing"],  # the two paths branch after "3D"
            "eSUN",
        )
    finally:
        store.close()
    key = Pseudonymizer.from_key_file(data / "pseudonym.key")
    assert store_counts(data) == {"items": 2, "users": 2, "events": 3, "events_purchase": 3}
    store = open_store(f"sqlite:///{data / 'shelf.db'}")
    try:
        assert [e.item_id for e in store.user_events(key.pseudonym("u1"))] == ["0", "1"]
    finally:
        store.close()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("import", "users", "stats", "serve", "demo"):
        assert command in result.stdout


def test_synthetic_demo_needs_no_outside_data(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    args = ["--data-dir", str(data), "demo", "--synthetic", "--items", "60", "--no-serve",
            "--no-deep"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "demo catalog: 60 items" in result.stderr
    counts = store_counts(data)
    assert counts["items"] == 60 and counts["events"] > 500
    keys = json.loads((data / "demo-keys.json").read_text())
    assert keys["search"].startswith("shelf_search_") and keys["admin"].startswith("shelf_admin_")
    assert (data / "artifacts" / "recs" / "PROMOTED").exists()  # the fast models, at once
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "demo data already imported" in again.stderr
    assert store_counts(data)["items"] == 60


def test_train_shows_epochs_and_keeps_a_status_file(tmp_path: Path) -> None:
    data = tmp_path / "t"
    sequences = tmp_path / "s.txt"
    sequences.write_text("".join(f"u{u} " + " ".join(str((u + k) % 9) for k in range(6)) + "\n"
                                 for u in range(30)))  # fmt: skip
    result = runner.invoke(app, ["--data-dir", str(data), "train", "--sequences", str(sequences),
                                 "--model", "sasrec", "--max-epochs", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    status = json.loads((data / "training.json").read_text())
    assert status["state"] == "done" and status["epoch"] == 2 and status["max_epochs"] == 2
    assert status["model"] == "sasrec" and status["promoted"] is True
