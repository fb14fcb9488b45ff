"""Settings of a search index (saved with it as ``config.json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shelf.search.lexical import DEFAULT_FIELD_WEIGHTS
from shelf.search.understand import DEFAULT_ATTRIBUTE_FACETS


class SearchConfig(BaseModel):
    """Settings of a search index."""

    model_config = ConfigDict(extra="forbid")

    field_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    k1: float = Field(default=1.5, gt=0)
    b: float = Field(default=0.75, ge=0, le=1)
    k_lexical: int = Field(default=100, ge=1, description="Lexical candidates per query.")
    k_dense: int = Field(default=100, ge=0, description="Dense candidates per query (0: off).")
    encoder: str | None = Field(default="minilm", description="Encoder name, None for none.")
    query_backend: Literal["onnx-int8", "torch"] = Field(
        default="onnx-int8",
        description="How queries are encoded: the int8 ONNX export or the float torch model.",
    )
    language: str = Field(default="auto", description="en, zh or auto.")
    spelling: bool = True
    synonyms: list[list[str]] = Field(default_factory=list)
    attribute_facets: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTE_FACETS))
    dense_min_cos: float = Field(
        default=0.2, description="Dense candidates below this cosine are not matches."
    )
    hnsw_threshold: int = Field(
        default=20_000, ge=1, description="Catalog size from which the vector index is HNSW."
    )
    hnsw_ef_search: int = Field(default=128, ge=1, description="HNSW search breadth.")
    response_cache_size: int = Field(
        default=4096,
        ge=0,
        description="Answers kept for identical anonymous requests (0: off). Adding items and "
        "setting the ranker, query model, query log or popularity start a fresh cache "
        "(changing one of those objects in place does not).",
    )
    response_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes of answers the response cache holds, as serialised JSON (with "
        "their keys): large answers cannot take the memory; the least recently used go first.",
    )
    encode_in_parallel: bool = Field(
        default=True,
        description="Encode the query and search the vector index on a second thread while "
        "the lexical stage runs (onnxruntime, torch and faiss release the GIL): lower "
        "latency, the same CPU time.",
    )
