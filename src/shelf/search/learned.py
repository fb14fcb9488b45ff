"""What ``shelf search-train`` saves beside a ranker besides the ranker itself: the tuned
query encoder (int8 ONNX) and the query log (item id -> the judged queries it answered)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from shelf.errors import ArtifactError
from shelf.search.querylog import QueryLog
from shelf.text.encoder import OnnxQueryModel

QUERY_MODEL_FILE = "query-encoder-int8.onnx"
QUERY_LOG_FILE = "query-log.json"


class QueryModel(Protocol):
    """Anything that turns one query into a unit vector (a tuned ONNX query encoder)."""

    def encode_query(self, text: str) -> np.ndarray: ...


def load_query_model(ranker_dir: Path) -> OnnxQueryModel | None:
    """The tuned query encoder saved beside a ranker, if any."""
    path = ranker_dir / QUERY_MODEL_FILE
    return OnnxQueryModel(path) if path.exists() else None


def save_query_model(model: QueryModel | None, ranker_dir: Path) -> None:
    """Copy a tuned query model's ONNX file beside a ranker (or, with None, remove a stale
    one: it would not match the ranker it sits next to)."""
    target = ranker_dir / QUERY_MODEL_FILE
    source = getattr(model, "path", None)
    if source is None:
        target.unlink(missing_ok=True)
    elif Path(source).resolve() != target.resolve():
        ranker_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(source).read_bytes())


def save_query_log(log: QueryLog | None, ranker_dir: Path) -> None:
    """Write (or, with None, remove) ``query-log.json`` beside a ranker."""
    path = ranker_dir / QUERY_LOG_FILE
    if log is None:
        path.unlink(missing_ok=True)
        return
    ranker_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(log.entries, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def load_query_log(ranker_dir: Path) -> QueryLog | None:
    """The query log saved beside a ranker, if any."""
    path = ranker_dir / QUERY_LOG_FILE
    if not path.exists():
        return None
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, dict):
        raise ArtifactError(f"{path}: not an object of item id to queries")
    return QueryLog(entries)
