"""The per-block steps of the Ray engine, run without Ray: built block by block, sequences and
counts equal the single-node ones exactly; bad partitions name file, row and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from shelf.errors import ValidationError
from shelf.formats.eventlog import event_files, read_event_file, read_event_log
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.counts import CountsRecommender, sum_counts
from shelf.recommend.data import SequenceData, encode_sequences, sequences_from_interactions
from shelf.recommend.popularity import Popularity, Trending
from shelf.scale import blocks

MODELS = [ItemCooccurrence, Trending, Popularity]


def single_node(log: Path, extra: list[str]) -> SequenceData:
    from shelf.formats.eventlog import interactions_from_tables

    tables = [read_event_file(p) for p in event_files(log)]
    return sequences_from_interactions(interactions_from_tables(tables), extra_items=extra)


def split_by_user(table: pa.Table, n: int) -> list[pa.Table]:
    users = table.column("user_id").to_pylist()
    bucket = np.array([sum(u.encode()) % n for u in users])
    return [table.filter(pa.array(bucket == k)) for k in range(n)]


def assert_same_data(got: SequenceData, want: SequenceData) -> None:
    assert got.users == want.users
    assert got.items == want.items
    for name in ("sequences", "baskets", "purchased", "timestamps"):
        a, b = getattr(got, name), getattr(want, name)
        assert len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), name


def assert_same_model(got: CountsRecommender, want: CountsRecommender) -> None:
    a, b = got._arrays(), want._arrays()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


def test_blocks_of_whole_users_build_the_single_node_sequences(event_log: Path) -> None:
    want = single_node(event_log, ["never-seen"])
    parts = split_by_user(read_event_log(event_log), 3)
    ordered = blocks.order_first_seen([blocks.first_seen(p) for p in parts])
    got = blocks.assemble([blocks.encode_block(p, ordered) for p in parts], ordered, ["never-seen"])
    assert_same_data(got, want)
    assert got.items[-1] == "never-seen" and want.n_users > 500
    assert sum(p.any() for p in got.purchased or []) > 0  # the log has purchases to count


def test_a_user_split_across_blocks_is_refused(event_log: Path) -> None:
    table = read_event_log(event_log)
    halves = [table.slice(0, table.num_rows // 2), table.slice(table.num_rows // 2)]
    with pytest.raises(RuntimeError, match="split across blocks"):
        blocks.order_first_seen([blocks.first_seen(h) for h in halves])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_tallies_of_shards_sum_to_the_single_node_fit(event_log: Path, model: type) -> None:
    data = single_node(event_log, [])
    fitted = model().fit(data)
    records = model().records_for(data)
    shards = np.array_split(np.arange(data.n_users), 4)
    parts = [model().tally(records.take(s), data.n_items) for s in reversed(shards)]
    assert_same_model(model().fit_tallied(data, sum_counts(parts)), fitted)


def test_tallies_without_timestamps_or_purchases_sum_exactly() -> None:
    """sequences.txt data: trending by position, bought-together from adjacent pairs."""
    rng = np.random.default_rng(0)
    seqs = [[f"i{k}" for k in rng.integers(0, 40, rng.integers(1, 12))] for _ in range(200)]
    data = encode_sequences([f"u{k}" for k in range(200)], seqs)
    for model in MODELS:
        records = model().records_for(data)
        shards = np.array_split(np.arange(data.n_users), 3)
        parts = [model().tally(records.take(s), data.n_items) for s in shards]
        assert_same_model(model().fit_tallied(data, sum_counts(parts)), model().fit(data))


def test_a_bad_row_names_the_file_the_row_and_the_field(event_log: Path, tmp_path: Path) -> None:
    table = pq.read_table(event_files(event_log)[0])
    users = table.column("user_id").to_pylist()
    users[41] = None
    path = tmp_path / "events-bad.parquet"
    pq.write_table(table.set_column(1, "user_id", pa.array(users, pa.string())), path)
    with pytest.raises(ValidationError) as caught:
        read_event_file(path)
    assert (caught.value.source, caught.value.row, caught.value.field) == (str(path), 42, "user_id")


def test_an_unknown_type_and_a_missing_column_are_named(tmp_path: Path) -> None:
    rows = {"event_id": [1, 2], "user_id": ["a", "b"], "item_id": ["x", "y"]}
    pq.write_table(
        pa.table({**rows, "timestamp": [1, 2], "type": ["view", "teleport"]}),
        tmp_path / "a.parquet",
    )
    pq.write_table(pa.table(rows), tmp_path / "b.parquet")
    with pytest.raises(ValidationError, match="row 2, field 'type': unknown event type 'teleport'"):
        read_event_file(tmp_path / "a.parquet")
    with pytest.raises(ValidationError, match="field 'timestamp': missing column"):
        read_event_file(tmp_path / "b.parquet")
    with pytest.raises(ValidationError, match="no Parquet event files"):
        event_files(tmp_path / "nothing-*.parquet")


def test_rows_without_an_item_are_dropped(tmp_path: Path) -> None:
    table = pa.table(
        {"event_id": [1, 2], "user_id": ["a", "a"], "item_id": ["x", None], "timestamp": [5, 6]}
    )
    pq.write_table(table, tmp_path / "e.parquet")
    out = read_event_file(tmp_path / "e.parquet")
    assert out.column("item_id").to_pylist() == ["x"]
    assert pc.all(pc.equal(out.column("type"), "view")).as_py()


def test_importing_shelf_and_its_ray_engine_plumbing_leaves_ray_unloaded() -> None:
    """Ray is imported by shelf.scale.cluster only, when the Ray engine runs."""
    import subprocess
    import sys

    code = (
        "import sys, shelf, shelf.cli, shelf.scale, shelf.scale.blocks, shelf.train.recs, "
        "shelf.evaluate.recs_run; print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
