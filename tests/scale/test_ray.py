"""The Ray engine end to end on a local Ray (one session for the module, loopback only):
the sequences and counts equal the single-node fit exactly, `shelf train --engine ray` writes
the same artifacts, and a bad partition fails with its file, row and field."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

if importlib.util.find_spec("ray") is None:  # not importorskip: ray must not load first
    pytest.skip("needs the ray extra", allow_module_level=True)

from shelf import artifacts
from shelf.cli import app
from shelf.errors import ValidationError
from shelf.formats.eventlog import event_files
from shelf.recommend.registry import load
from shelf.scale.cluster import connect
from shelf.scale.events import parquet_dataset, sequences_from_dataset
from shelf.scale.tally import fit_counts

from .test_blocks import MODELS, assert_same_data, assert_same_model, single_node

pytestmark = pytest.mark.integration
SHARED = Path(__file__).resolve().parents[2] / "../shared/data"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def ray_session() -> Iterator[None]:
    with connect(num_cpus=2):
        yield


def test_the_local_cluster_listens_on_loopback_only() -> None:
    if shutil.which("ss") is None:
        pytest.skip("needs ss to list listening sockets")
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    ours = [
        line
        for line in lines.splitlines()
        if any(n in line for n in ("raylet", "gcs_server", '"ray::'))
    ]
    assert ours, "found no socket of Ray's processes"
    for line in ours:
        local = line.split()[3]
        assert local.rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]"), line


def test_sequences_and_counts_equal_the_single_node_fit(event_log: Path) -> None:
    want = single_node(event_log, ["never-seen"])
    got = sequences_from_dataset(parquet_dataset(event_log), extra_items=["never-seen"], n_blocks=3)
    assert_same_data(got, want)
    for model in MODELS:
        assert_same_model(fit_counts(model(), got, n_shards=3), model().fit(want))


def test_a_bad_partition_fails_with_its_file_row_and_field(event_log: Path, tmp_path: Path) -> None:
    for path in event_files(event_log):
        shutil.copy(path, tmp_path / path.name)
    bad = event_files(tmp_path)[1]
    table = pq.read_table(bad)
    stamps = table.column("timestamp").to_pylist()
    stamps[6] = None
    pq.write_table(table.set_column(4, "timestamp", pa.array(stamps, pa.int64())), bad)
    with pytest.raises(ValidationError) as caught:
        parquet_dataset(tmp_path)
    assert (caught.value.source, caught.value.row, caught.value.field) == (str(bad), 7, "timestamp")


def train(data_dir: Path, *args: str) -> Path:
    result = runner.invoke(
        app, ["--data-dir", str(data_dir), "train", "--model", "pop", "--force", *args]
    )
    assert result.exit_code == 0, result.output
    version = artifacts.promoted(data_dir / "artifacts", "recs")
    assert version is not None
    return version


def assert_same_bundle(got: Path, want: Path) -> None:
    for part in ("personal", "cooc", "trending"):
        assert_same_model(load(got / part), load(want / part))
    assert (got / "bought.json").read_text() == (want / "bought.json").read_text()


def test_shelf_train_on_ray_writes_the_same_artifacts_from_a_log(
    event_log: Path, tmp_path: Path
) -> None:
    local = train(tmp_path, "--events", str(event_log))
    on_ray = train(tmp_path, "--events", str(event_log / "events-*.parquet"), "--engine", "ray")
    assert on_ray != local
    assert_same_bundle(on_ray, local)


@pytest.mark.parametrize("name", ["amazon-scientific", "amazon-beauty"])
def test_shelf_train_on_ray_counts_the_benchmark_data_identically(
    name: str, tmp_path: Path
) -> None:
    sequences = SHARED / name / "sequences.txt"
    if not sequences.exists():
        pytest.skip(f"needs {sequences}")
    local = train(tmp_path, "--sequences", str(sequences))
    on_ray = train(tmp_path, "--sequences", str(sequences), "--engine", "ray")
    cooc = load(on_ray / "cooc")
    assert cooc.pair_counts_[0].nnz > 1000 and cooc.basket_source_ == "adjacent"
    assert_same_bundle(on_ray, local)


def test_shelf_eval_recs_on_ray_reports_the_same_figures(tmp_path: Path) -> None:
    sequences = SHARED / "amazon-scientific" / "sequences.txt"
    if not sequences.exists():
        pytest.skip(f"needs {sequences}")
    reports = []
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.json"
        args = ["eval", "recs", "--sequences", str(sequences), "--model", "cooc"]
        args += ["--baselines", "pop", "--engine", engine, "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(out.read_text()))

    def figures(report: Any) -> Any:  # everything but timings and the machine
        if not isinstance(report, dict):
            return report
        return {k: figures(v) for k, v in report.items() if "seconds" not in k and k != "machine"}

    local, on_ray = reports
    assert local["ndcg@10"] > 0.01
    assert figures(on_ray) == figures(local)
