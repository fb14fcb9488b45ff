"""The encoder cache: vectors computed once, stored on disk, returned in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shelf.text.encoder import CachedEncoder, Encoder, l2_normalise


class CountingEncoder:
    """A deterministic fake encoder that counts the texts it was asked to encode."""

    name = "fake"
    dim = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [[len(t), t.count("a"), t.count("e"), 1.0] for t in texts]
        return l2_normalise(np.array(rows, dtype=np.float32).reshape(-1, self.dim))


def test_fake_is_an_encoder() -> None:
    assert isinstance(CountingEncoder(), Encoder)


def test_cache_encodes_each_text_once_and_keeps_order(tmp_path: Path) -> None:
    inner = CountingEncoder()
    enc = CachedEncoder(inner, tmp_path)
    first = enc.encode(["apple", "pear", "apple"])
    assert inner.calls == [["apple", "pear"]]
    np.testing.assert_allclose(first[0], first[2])
    second = enc.encode(["pear", "grape"])
    assert inner.calls[-1] == ["grape"]
    np.testing.assert_allclose(second[0], first[1])


def test_cache_survives_a_restart(tmp_path: Path) -> None:
    enc = CachedEncoder(CountingEncoder(), tmp_path)
    before = enc.encode(["drill", "saw"])
    inner = CountingEncoder()
    again = CachedEncoder(inner, tmp_path)
    assert len(again) == 2
    np.testing.assert_allclose(again.encode(["saw", "drill"]), before[::-1])
    assert inner.calls == []


def test_vectors_are_unit_length(tmp_path: Path) -> None:
    enc = CachedEncoder(CountingEncoder(), None)
    vecs = enc.encode(["a", "bb", "ccc"])
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(enc.encode_one("bb"), vecs[1])
