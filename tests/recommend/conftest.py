"""Tiny synthetic data with a known answer.

Five groups of five items; in each group the items form a cycle ``a -> b -> c -> d -> e -> a``.
Each user sees four consecutive items of one group's cycle, so the right first recommendation
is the group's fifth item (the one not yet seen, which is also the next in the cycle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelf.recommend.data import SequenceData, encode_sequences

GROUPS = 5
SIZE = 5


def item(group: int, k: int, size: int = SIZE) -> str:
    return f"g{group}i{k % size}"


def cycle_sequences(
    copies: int = 2, length: int = 4, size: int = SIZE
) -> tuple[list[str], list[list[str]]]:
    users, seqs = [], []
    for copy in range(copies):
        for g in range(GROUPS):
            for start in range(size):
                users.append(f"u{g}-{start}-{copy}")
                seqs.append([item(g, start + j, size) for j in range(length)])
    return users, seqs


def expected_next(user: str) -> str:
    g, start, _ = user[1:].split("-")
    return item(int(g), int(start) + 4)


@pytest.fixture
def cycle_data() -> SequenceData:
    users, seqs = cycle_sequences()
    return encode_sequences(users, seqs)


@pytest.fixture
def cycle_file(tmp_path: Path) -> Path:
    users, seqs = cycle_sequences(copies=2, length=7, size=10)
    path = tmp_path / "sequences.txt"
    path.write_text("".join(f"{u} {' '.join(s)}\n" for u, s in zip(users, seqs, strict=True)))
    return path


def rng() -> np.random.Generator:
    return np.random.default_rng(0)
