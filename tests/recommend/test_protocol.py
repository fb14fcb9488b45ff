"""The leave-one-out protocol, the eval command and the classification figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shelf.cli import app
from shelf.evaluate.recs_protocol import evaluate, leave_one_out
from shelf.evaluate.recs_run import run_recs_eval
from shelf.formats import read_sequences
from shelf.recommend.registry import build

QUICK = {"max_epochs": 2, "dim": 8, "eval_every": 1}


def test_read_sequences(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("1 a b c\n\n2 d\n")
    assert read_sequences(path) == (["1", "2"], [["a", "b", "c"], ["d"]])


def test_split_follows_protocol() -> None:
    users = ["u1", "u2", "u3"]
    seqs = [["a", "b", "c", "d"], ["b", "c", "e"], ["a", "e"]]
    split = leave_one_out(users, seqs, extra_items=["z"])
    items = split.train.items
    decode = lambda arr: [items[i] for i in arr]  # noqa: E731
    assert items[-1] == "z" and split.train.n_items == 6
    assert [decode(s) for s in split.train.sequences] == [["a", "b"], ["b"], []]
    assert decode(split.validation.targets) == ["c", "c"]
    assert [decode(h) for h in split.validation.histories] == [["a", "b"], ["b"]]
    assert decode(split.test.targets) == ["d", "e"]
    assert [decode(h) for h in split.test.histories] == [["a", "b", "c"], ["b", "c"]]


def test_cold_items_removed_from_training() -> None:
    users = [f"u{k}" for k in range(50)]
    seqs = [[f"i{(k + j) % 40}" for j in range(6)] for k in range(50)]
    split = leave_one_out(users, seqs, cold_fraction=0.1, seed=3)
    assert len(split.cold_items) == 4
    trained = np.concatenate(split.train.sequences)
    assert not np.isin(trained, split.cold_items).any()
    assert not np.isin(split.validation.targets, split.cold_items).any()


def test_evaluate_reports_history_excluded(cycle_file: Path) -> None:
    users, seqs = read_sequences(cycle_file)
    split = leave_one_out(users, seqs, cold_fraction=0.2)
    model = build("cooc").fit(split.train)
    out = evaluate(model, split.test, cold_items=split.cold_items)
    assert 0.0 <= out["ndcg@10"] <= out["hr@10"] <= out["hr@20"] <= 1.0  # type: ignore[operator]
    classification = out["classification"]
    assert isinstance(classification, dict) and "secondary" in classification["note"]
    cold = out["cold"]
    assert isinstance(cold, dict) and cold["n_items"] == 10


def test_run_recs_eval_keys(cycle_file: Path) -> None:
    report = run_recs_eval(
        cycle_file, model="sasrec+cooc", baselines=["pop", "sasrec"], overrides=QUICK
    )
    for key in ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "coverage@10"):
        assert 0.0 <= report[key] <= 1.0
    assert report["train_seconds"] > 0 and report["seed"] == 42
    assert set(report["baselines"]) == {"pop", "sasrec"}
    # On the cycle data the next item is fully predictable: co-occurrence finds it.
    assert report["hr@10"] >= 0.9


def test_text_model_scores_cold_items(cycle_file: Path, tmp_path: Path) -> None:
    """Cold items get scored from their text: items of one group share words in their text."""
    users, seqs = read_sequences(cycle_file)
    split = leave_one_out(users, seqs, cold_fraction=0.2, seed=1)
    items = split.train.items
    text = np.zeros((len(items), 8), dtype=np.float32)
    for k, item in enumerate(items):
        text[k, int(item[1])] = 1.0  # the group
        text[k, 5 + int(item[3:]) % 3] = 0.5
    model = build("sasrec-text", dim=16, max_epochs=30, eval_every=100, lr=5e-3, dropout=0.1)
    model.fit(dataclasses.replace(split.train, item_text=text))
    out = evaluate(model, split.test, cold_items=split.cold_items)
    assert out["cold"]["hr@10"] > 0.3  # type: ignore[index]


def test_cli_eval_recs(cycle_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "recs",
            "--sequences",
            str(cycle_file),
            "--model",
            "cooc",
            "--baselines",
            "pop",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["model"] == "cooc" and "pop" in report["baselines"]


@pytest.mark.slow
def test_beauty_cooc_quality_gate() -> None:
    path = Path(__file__).parents[3] / "shared/data/amazon-beauty/sequences.txt"
    if not path.exists():
        pytest.skip("benchmark data not present")
    report = run_recs_eval(path, model="cooc", baselines=[])
    assert report["ndcg@10"] >= 0.05
