"""Versioned model artifacts: one directory per version, ``.npy`` arrays + ``meta.json``.

Layout under a root (``settings.artifacts_dir``)::

    <root>/<name>/<version>/meta.json      params, metrics, data fingerprint, shelf version
    <root>/<name>/<version>/...            the model's arrays (never pickled objects)
    <root>/<name>/PROMOTED                 the version the engine serves

A new version is promoted only if its metric is at least as good as the promoted one's
(:func:`promote`), as Gorse does before swapping models.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from shelf.errors import ArtifactError

META = "meta.json"
POINTER = "PROMOTED"


def shelf_version() -> str:
    try:
        from importlib.metadata import version

        return version("shelf")
    except Exception:  # pragma: no cover - not installed
        return "0+unknown"


def new_version(root: str | Path, name: str) -> Path:
    """A fresh, empty version directory ``<root>/<name>/<UTC time>[-k]``."""
    base = Path(root) / name
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for k in range(1000):
        path = base / (stamp if k == 0 else f"{stamp}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise ArtifactError(f"{base}: cannot create a new version directory")


def write_meta(path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` (adds the shelf version and creation time)."""
    full = {"shelf_version": shelf_version(), "created_at": time.time(), **meta}
    target = Path(path) / META
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(full, indent=2, default=str))
    os.replace(tmp, target)
    return target


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a version directory."""
    target = Path(path) / META
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{target}: unreadable artifact metadata ({exc})") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{target}: metadata is not an object")
    return data


def promoted(root: str | Path, name: str) -> Path | None:
    """The promoted version directory of ``name``, or ``None``."""
    pointer = Path(root) / name / POINTER
    if not pointer.exists():
        return None
    path = Path(root) / name / pointer.read_text().strip()
    if not (path / META).exists():
        raise ArtifactError(f"{pointer}: points at missing version {path.name!r}")
    return path


def promote(
    root: str | Path,
    name: str,
    version: str | Path,
    *,
    metric: str = "ndcg@10",
    force: bool = False,
) -> bool:
    """Point ``name`` at ``version`` if its ``metric`` is at least the promoted one's.

    Returns whether it was promoted. A version without the metric is only promoted when
    nothing is promoted yet or ``force`` is set.
    """
    path = Path(version)
    if not path.is_absolute() and not path.exists():
        path = Path(root) / name / str(version)
    new = read_meta(path).get("metrics", {}).get(metric)
    current_path = promoted(root, name)
    if current_path is not None and not force:
        current = read_meta(current_path).get("metrics", {}).get(metric)
        if current is not None and (new is None or float(new) < float(current)):
            return False
    pointer = Path(root) / name / POINTER
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(path.name)
    os.replace(tmp, pointer)
    return True


def keep_newest(folder: Path, pattern: str, keep: int) -> list[Path]:
    """Delete all but the ``keep`` most recently modified files of ``folder`` matching
    ``pattern`` (for derived-file caches: touch a file when it is used to keep it); files
    that vanish meanwhile (another process pruning) are skipped. Returns the deleted ones."""
    found: list[tuple[float, Path]] = []
    for path in folder.glob(pattern):
        try:
            found.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    deleted = [path for _mtime, path in sorted(found)[: max(len(found) - keep, 0)]]
    for path in deleted:
        path.unlink(missing_ok=True)
    return deleted
