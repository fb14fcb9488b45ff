"""A small synthetic event log shared by the scale tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelf.synthetic.eventlog import write_event_log


@pytest.fixture(scope="session")
def event_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three partitions, 30,000 events, purchases and sessions included."""
    root = tmp_path_factory.mktemp("eventlog")
    write_event_log(root, 30_000, n_users=900, n_items=700, seed=5, partition_rows=10_000)
    return root
