"""Events as Ray Data, and the training sequences built from them across the cluster.

Parquet partitions are read and validated one file per task (:func:`read_event_file`, which
names the file, row and field of a bad row); the store's events are read once by the driver
(a database is one reader). The events are hash-partitioned by user so each block holds
whole users, then two passes of tasks over the blocks number users, items and baskets as the
single-node builder does and encode each block's sequences (:mod:`shelf.scale.blocks`). The
driver only holds the sorted vocabularies and the encoded integer sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from shelf.errors import ShelfError
from shelf.formats.eventlog import SCHEMA, event_files, read_event_file
from shelf.recommend.data import SequenceData
from shelf.scale import blocks
from shelf.scale.cluster import ray, require_ray

# Fractions of a CPU per task: with whole CPUs the tasks of a 2-core machine took every slot
# and starved the Ray Data operators feeding them (a hang without an error).
TASK_CPUS = 0.5


@ray.remote(num_cpus=TASK_CPUS, num_returns=2)
def _read(path: str) -> tuple[pa.Table, int]:
    table = read_event_file(path)
    return table, table.num_rows


@ray.remote(num_cpus=TASK_CPUS)
def _first_seen(table: pa.Table) -> blocks.FirstSeen:
    return blocks.first_seen(table)


@ray.remote(num_cpus=TASK_CPUS)
def _encode(table: pa.Table, ordered: blocks.Ordered) -> blocks.BlockSequences:
    return blocks.encode_block(table, ordered)


def parquet_dataset(source: str | Path) -> Any:
    """A log's partitions (a directory or a glob) as a Ray Dataset, one validated file per
    task; the first bad row of any file fails the read with its file, row and field."""
    require_ray()
    reads: list[Any] = [_read.remote(str(p)) for p in event_files(source)]
    try:  # the row counts only: the tables stay in the object store
        ray.get([rows for _, rows in reads])
    except ray.exceptions.RayTaskError as exc:
        raise unwrap(exc) from None
    return ray.data.from_arrow_refs([table for table, _ in reads])


def unwrap(exc: Exception) -> Exception:
    """The exception a task raised, unwrapped when it is one of shelf's own (a bad row's
    ValidationError reads the same as in the single-node path)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, ShelfError) else exc


def table_dataset(table: pa.Table, n_blocks: int) -> Any:
    """Events already in memory (:data:`shelf.formats.eventlog.SCHEMA`) as a Ray Dataset."""
    require_ray()
    table = table.select(SCHEMA.names).cast(SCHEMA)
    step = max(1, -(-table.num_rows // max(1, n_blocks)))
    slices = [table.slice(lo, step) for lo in range(0, table.num_rows, step)] or [table]
    return ray.data.from_arrow(slices)


def default_blocks() -> int:
    """Blocks of the shuffle by user: two per CPU of the cluster."""
    return max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))


def sequences_from_dataset(
    dataset: Any, *, extra_items: Sequence[str] = (), n_blocks: int | None = None
) -> SequenceData:
    """The :class:`SequenceData` :func:`~shelf.recommend.data.sequences_from_interactions`
    builds from the same events, built block by block across the cluster."""
    require_ray()
    shuffled = dataset.repartition(n_blocks or default_blocks(), keys=["user_id"])
    refs = shuffled.to_arrow_refs()
    ordered = blocks.order_first_seen(ray.get([_first_seen.remote(r) for r in refs]))
    shared = ray.put(ordered)
    encoded = ray.get([_encode.remote(r, shared) for r in refs])
    return blocks.assemble(encoded, ordered, extra_items)
