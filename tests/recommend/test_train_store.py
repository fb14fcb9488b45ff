"""`shelf train` from the store: events and catalog in, a promoted artifact out."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelf.catalog import Item
from shelf.cli import app
from shelf.ingest.pseudonym import Pseudonymizer
from shelf.store.base import StoredEvent
from shelf.store.sql import open_store

from .conftest import cycle_sequences


def test_train_from_store_and_recommend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shelf.db'}"
    store = open_store(url)
    users, seqs = cycle_sequences(copies=2, length=5, size=8)
    items = sorted({i for s in seqs for i in s})
    store.upsert_items(
        [Item(item_id=i, title=f"Item {i}", category=["Shop", f"Group {i[1]}"]) for i in items]
    )
    # The store holds pseudonyms, as every import path writes them; `recommend` takes raw ids.
    pseudonym = Pseudonymizer.from_key_file(tmp_path / "pseudonym.key").pseudonym
    events = [
        StoredEvent(
            dedup_key=f"{u}-{t}",
            user_key=pseudonym(u),
            item_id=item,
            type="purchase" if t == 0 else "view",
            timestamp_ms=1_700_000_000_000 + 60_000 * t,
            session_id=f"{u}-s",
        )
        for u, s in zip(users, seqs, strict=True)
        for t, item in enumerate(s)
    ]
    store.add_events(events)
    store.close()
    monkeypatch.setenv("SHELF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHELF_DB_URL", url)
    runner = CliRunner()
    result = runner.invoke(
        app, ["train", "--model", "sasrec+cooc", "--max-epochs", "2", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["recommend", users[0], "--n", "3", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "source: personal" in result.output
