"""Large event logs: partitions of the asked size, the same bytes for the same seed, one
chunk in memory at a time, and the structure of the small logs kept at scale."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shelf.synthetic import event_chunk, iter_event_chunks, plan_event_log, write_event_log
from shelf.synthetic.eventlog import main

USERS, ITEMS, SEED = 2_000, 1_500, 3


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def write_small(directory: Path, seed: int) -> dict[str, str]:
    write_event_log(
        directory, 250_000, n_users=USERS, n_items=ITEMS, seed=seed, partition_rows=100_000
    )
    return digest(directory)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("log")
    write_small(directory, SEED)
    return directory


def test_partitions_have_the_asked_row_counts(log_dir: Path) -> None:
    parts = sorted(log_dir.glob("events-*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in parts] == [100_000, 100_000, 50_000]
    table = pq.read_table(parts[0])
    assert table.schema.names == [
        "event_id",
        "user_id",
        "item_id",
        "type",
        "timestamp",
        "session_id",
    ]
    assert table.schema.field("timestamp").type == pa.int64()
    events = pa.concat_tables(pq.read_table(p) for p in parts)
    assert len(np.unique(events.column("event_id").to_numpy())) == 250_000


def test_sessions_run_forward_and_partitions_follow_each_other(log_dir: Path) -> None:
    parts = [pq.read_table(p) for p in sorted(log_dir.glob("events-*.parquet"))]
    for table in parts:
        assert np.all(np.diff(table.column("timestamp").to_numpy()) >= 0)
        sessions = table.group_by("session_id").aggregate([("user_id", "count_distinct")])
        assert sessions.column("user_id_count_distinct").to_numpy().max() == 1
    starts = [t.column("timestamp").to_numpy()[0] for t in parts]
    assert starts == sorted(starts)


def test_items_map_to_categories_and_popularity_is_skewed(log_dir: Path) -> None:
    items = pq.read_table(log_dir / "items.parquet")
    assert items.num_rows == ITEMS
    assert set(items.schema.names) >= {"item_id", "category", "price"}
    assert items.column("category").to_pylist()[0].count(" > ") == 2
    events = pq.read_table(log_dir / "events-00000.parquet")
    counts = np.array(sorted(Counter(events.column("item_id").to_pylist()).values()))[::-1]
    top = counts[: len(counts) // 100].sum() / counts.sum()
    assert top > 0.08  # the top 1% of items draw eight times their share of the events


def test_consumables_are_bought_again_by_the_same_user(log_dir: Path) -> None:
    items = pq.read_table(log_dir / "items.parquet").to_pydict()
    consumable = dict(zip(items["item_id"], items["consumable"], strict=True))
    events = pa.concat_tables(pq.read_table(p) for p in log_dir.glob("events-*.parquet"))
    types = events.column("type").to_pylist()
    bought = Counter(
        (u, i)
        for u, i, t in zip(
            events.column("user_id").to_pylist(),
            events.column("item_id").to_pylist(),
            types,
            strict=True,
        )
        if t == "purchase"
    )
    assert sum(n > 1 for n in bought.values()) > 100

    def repeat_rate(flag: bool) -> float:
        counts = [n for (_, item), n in bought.items() if consumable[item] == flag]
        return sum(n > 1 for n in counts) / len(counts)

    assert repeat_rate(True) > 2 * repeat_rate(False)
    assert set(types) == {"view", "click", "add_to_cart", "remove_from_cart", "purchase"}


def test_same_seed_same_bytes_another_seed_others(log_dir: Path, tmp_path: Path) -> None:
    assert write_small(tmp_path / "again", SEED) == digest(log_dir)
    other = write_small(tmp_path / "other", SEED + 1)
    assert other["events-00000.parquet"] != digest(log_dir)["events-00000.parquet"]


def test_a_chunk_needs_no_other_chunk(log_dir: Path) -> None:
    """Chunk 2 built alone is the written partition 2: nothing is carried between chunks."""
    plan, _ = plan_event_log(
        250_000, n_users=USERS, n_items=ITEMS, seed=SEED, partition_rows=100_000
    )
    assert event_chunk(plan, 2).equals(pq.read_table(log_dir / "events-00002.parquet"))
    with pytest.raises(IndexError):
        event_chunk(plan, 3)


def test_generation_holds_one_chunk_at_a_time() -> None:
    """No chunk exceeds the partition size, and the peak of numpy's allocations does not grow
    with the log: eight partitions peak like two (holding all rows would take four times)."""

    def peak(n_events: int) -> tuple[list[int], int]:
        plan, _ = plan_event_log(
            n_events, n_users=USERS, n_items=ITEMS, seed=SEED, partition_rows=100_000
        )
        tracemalloc.start()
        rows = [table.num_rows for table in iter_event_chunks(plan)]
        high = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return rows, high

    (rows, two), (_, eight) = peak(200_000), peak(800_000)
    assert rows == [100_000, 100_000]
    assert eight < 1.1 * two


def test_the_module_runs_as_a_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main([str(tmp_path), "--events", "25000", "--seed", "1", "--partition-rows", "10000"]) == 0
    )
    out = capsys.readouterr().out
    assert "events-00002.parquet: 25,000 / 25,000 events" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events-00000.parquet",
        "events-00001.parquet",
        "events-00002.parquet",
        "items.parquet",
    ]
