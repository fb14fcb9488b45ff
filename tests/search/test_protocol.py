"""The evaluation protocol on tiny files: file formats, folds, leakage refusal, the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelf.cli import app
from shelf.errors import ValidationError
from shelf.evaluate.search_protocol import check_disjoint, evaluate_search
from shelf.formats import read_products as load_products
from shelf.formats import read_qrels as load_qrels
from shelf.formats import read_queries as load_queries
from shelf.train.search import kfold_ids

from .conftest import CATALOG, QRELS, QUERIES, HashingEncoder


def write_files(root: Path, queries: dict[str, str], qrels: dict[str, dict[str, float]]) -> None:
    with (root / "products.jsonl").open("w") as fh:
        for pid, title, *_ in CATALOG:
            fh.write(json.dumps({"product_id": pid, "title": title}) + "\n")
    lines = ["query_id\tquery"] + [f"{q}\t{text}" for q, text in queries.items()]
    (root / "queries.tsv").write_text("\n".join(lines) + "\n")
    rows = ["query_id\tproduct_id\trelevance"]
    rows += [f"{q}\t{p}\t{r}" for q, judged in qrels.items() for p, r in judged.items()]
    (root / "qrels.tsv").write_text("\n".join(rows) + "\n")


def test_readers(tmp_path: Path) -> None:
    write_files(tmp_path, QUERIES, QRELS)
    items = load_products(tmp_path / "products.jsonl")
    assert [i.item_id for i in items][:2] == ["1", "2"]
    assert load_queries(tmp_path / "queries.tsv") == QUERIES
    assert load_qrels(tmp_path / "qrels.tsv") == QRELS


def test_folds_are_disjoint_and_cover_every_query() -> None:
    ids = [f"q{i}" for i in range(23)]
    folds = kfold_ids(ids, 5, seed=1)
    assert sorted(q for fold in folds for q in fold) == sorted(ids)
    assert len({q for f in folds for q in f}) == 23
    assert kfold_ids(ids, 5, seed=1) == folds


def test_overlapping_train_and_eval_queries_are_refused() -> None:
    with pytest.raises(ValidationError, match="never train on evaluated queries"):
        check_disjoint({"q1", "q2"}, {"q2", "q3"})


def test_cross_validated_run_reports_pipeline_and_baselines(tmp_path: Path) -> None:
    write_files(tmp_path, QUERIES, QRELS)
    doc = evaluate_search(
        load_products(tmp_path / "products.jsonl"),
        QUERIES,
        QRELS,
        pipeline="ltr",
        folds=2,
        encoder=HashingEncoder(),
        ranker_params={"n_estimators": 20, "min_child_samples": 2},
        tune_encoder=False,
        log=lambda _msg: None,
    )
    for key in ("ndcg@10", "recall@100", "mrr@10", "p50_ms", "p99_ms", "queries"):
        assert key in doc
    assert doc["queries"] == 6
    assert set(doc["baselines"]) == {"bm25s_default_titles", "bm25s_stemmed_titles", "dense_minilm"}
    assert doc["training"]["mode"].startswith("2-fold")
    assert doc["training"]["query_encoder"] == "as indexed"
    assert doc["ndcg@10"] > 0.5


def test_cli_refuses_leaking_train_files(tmp_path: Path) -> None:
    write_files(tmp_path, QUERIES, QRELS)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "search",
            "--products",
            str(tmp_path / "products.jsonl"),
            "--queries",
            str(tmp_path / "queries.tsv"),
            "--qrels",
            str(tmp_path / "qrels.tsv"),
            "--train-queries",
            str(tmp_path / "queries.tsv"),
            "--train-qrels",
            str(tmp_path / "qrels.tsv"),
            "--out",
            str(tmp_path / "m.json"),
        ],
    )
    assert result.exit_code == 2
    assert "never train on evaluated queries" in result.output
    assert not (tmp_path / "m.json").exists()
