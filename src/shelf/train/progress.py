"""Where a training run stands, for the people waiting on it: epochs done, the validation
NDCG, an ETA. Written to ``<data dir>/training.json`` after every epoch (atomically), so
that servers (``/health``) and pages can say what is still training, whichever process
trains."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "training.json"


class TrainingStatus:
    """The status file of one training run of ``model``."""

    def __init__(self, data_dir: Path, model: str) -> None:
        self.path = data_dir / STATUS_FILE
        self.model = model
        self._started = time.time()
        self._state: dict[str, Any] = {}

    def _write(self, **fields: Any) -> None:
        self._state.update(fields, model=self.model, pid=os.getpid(), updated=time.time())
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self._state))
        tmp.replace(self.path)

    def started(self, max_epochs: int | None) -> None:
        self._write(state="training", epoch=0, max_epochs=max_epochs, started=self._started)

    def epoch(self, record: dict[str, float], max_epochs: int | None) -> None:
        """After an epoch: ``record`` as the model reports it (epoch, loss, val_ndcg@10)."""
        done = int(record.get("epoch", 0))
        elapsed = time.time() - self._started
        eta = elapsed / done * (max_epochs - done) if done and max_epochs else None
        fields: dict[str, Any] = {"epoch": done, "max_epochs": max_epochs,
                                  "elapsed_s": round(elapsed, 1),
                                  "eta_s": None if eta is None else round(eta, 1)}  # fmt: skip
        if "val_ndcg@10" in record:
            fields["val_ndcg@10"] = round(float(record["val_ndcg@10"]), 5)
        self._write(**fields)

    def finished(self, version: str, promoted: bool, metrics: dict[str, Any]) -> None:
        self._write(state="done", version=version, promoted=promoted, eta_s=0,
                    test_ndcg10=metrics.get("ndcg@10"),
                    elapsed_s=round(time.time() - self._started, 1))  # fmt: skip

    def failed(self, reason: str) -> None:
        self._write(state="failed", reason=reason)


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The last training run's status, or None when nothing has trained here."""
    path = data_dir / STATUS_FILE
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None
