"""Where a search query's time goes, stage by stage, in-process and one thread.

    .venv/bin/python benchmarks/search_stages.py \
        --products ../shared/data/homedepot-search/products.jsonl \
        --queries ../shared/data/homedepot-search/queries-dev.tsv \
        [--ranker DATA_DIR/index/ranker] --out benchmarks/results/search-stages.json

Times, per query over a seeded sample (median and p99, ms): understanding, query encoding
(int8 ONNX, the tuned model when the ranker folder has one, and the float model through
sentence-transformers), BM25 retrieval, vector search (HNSW and exact faiss, with the share of
the exact top ``k_dense`` that HNSW returns), the query log, ``prepare`` as a whole (retrieval +
features, vector given), the ranker's scoring of the candidates (compiled by lleaves, and
through LightGBM for comparison) and the whole query, with the query encoded on a second thread
during the lexical stage (the default) and in line; and the whole uncached answer a serving
worker computes (ranking, hits with reasons, facets), in line. It backs the stage figures
quoted in docs/search.md and the README.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from record import emit, run_header

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def timed(
    fn: Callable[[str], Any], inputs: list[str], warm: list[str] | None = None
) -> tuple[dict[str, float], list[Any]]:
    for text in inputs[:20] if warm is None else warm:  # warm-up
        fn(text)
    times, outputs = [], []
    for text in inputs:
        started = time.perf_counter()
        outputs.append(fn(text))
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
    }, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--ranker", type=Path, default=None, help="A search-train output.")
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    from shelf.formats import read_products as load_products
    from shelf.formats import read_queries as load_queries
    from shelf.search.learned import load_query_log, load_query_model
    from shelf.search.lexical import top_k
    from shelf.search.rank import load_ranker
    from shelf.search.schemas import SearchRequest
    from shelf.search.service import SearchService
    from shelf.text.encoder import CachedEncoder

    threadpool_limits(1, user_api="blas")
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    started = time.perf_counter()
    service = SearchService.build(load_products(args.products), show_progress=False)
    build_s = time.perf_counter() - started
    if args.ranker is not None:
        service.ranker = load_ranker(args.ranker, compiled=True)
        service.set_query_model(load_query_model(args.ranker))
        service.set_query_log(load_query_log(args.ranker))
    texts = sorted(load_queries(args.queries).values())
    random.Random(args.seed).shuffle(texts)
    spare = texts[args.sample : args.sample + 20]  # warm-ups that leave no timed query cached
    texts = texts[: args.sample]
    assert service.index.dense is not None and isinstance(service.index.encoder, CachedEncoder)
    dense, raw = service.index.dense, service.index.encoder.encoder

    stages: dict[str, Any] = {}
    stages["understand"], understood = timed(service.understand, texts)
    by_text = dict(zip(texts, understood, strict=True))
    words = [by_text[t].text for t in texts]
    stages["encode_query_int8"], vectors = timed(
        lambda t: service.query_vector(t, cached=False), words
    )
    vector_of = dict(zip(words, vectors, strict=True))
    stages["encode_query_float_sentence_transformers"], _ = timed(
        lambda t: raw.encode([t])[0], words[:100]
    )

    def lexical(t: str) -> Any:
        u = by_text[t]
        scores = service.index.lexical.combine(service.index.lexical.field_scores(u.terms))
        return top_k(scores, service.config.k_lexical)

    stages["bm25_retrieval"], _ = timed(lexical, texts)
    stages["index_kind"] = "hnsw" if len(dense) >= dense.hnsw_threshold else "exact"
    k_dense = service.config.k_dense
    stages["vector_search"], hnsw = timed(
        lambda t: dense.search(vector_of[by_text[t].text], k_dense)[0], texts
    )
    exact = faiss.IndexFlatIP(dense.dim)
    exact.add(dense.vectors)
    stages["vector_search_exact"], flat = timed(
        lambda t: exact.search(vector_of[by_text[t].text].reshape(1, -1), k_dense)[1][0], texts
    )
    stages[f"share_of_exact_top{k_dense}"] = round(
        float(np.mean([len(set(a) & set(b)) / k_dense for a, b in zip(hnsw, flat, strict=True)])),
        4,
    )
    log = service.query_log
    if log is not None:
        stages["query_log"], _ = timed(
            lambda t: log.scores(
                by_text[t].terms,
                service.index.positions,
                len(service.items),
                service.index.analyzer,
            ),
            texts,
        )
    stages["prepare_vector_given"], prepared = timed(
        lambda t: service.prepare(by_text[t], query_vector=vector_of[by_text[t].text]), texts
    )
    by_prep = dict(zip(texts, prepared, strict=True))
    ranker = service.ranker
    stages["rank_candidates"], _ = timed(lambda t: ranker.predict(by_prep[t].features), texts)
    compiled = getattr(ranker, "compiled_", None)
    if compiled is not None:  # the same trees through LightGBM's own predict
        ranker.compiled_ = None
        stages["rank_candidates_lightgbm"], _ = timed(
            lambda t: ranker.predict(by_prep[t].features), texts
        )
        ranker.compiled_ = compiled
    stages["candidates_median"] = float(np.median([len(p.docs) for p in prepared]))

    def end_to_end(t: str) -> Any:
        return service.score(service.prepare(by_text[t], cached=False))

    stages["search_end_to_end_uncached"], _ = timed(end_to_end, texts)
    service.config.encode_in_parallel = False
    stages["search_end_to_end_uncached_encode_in_line"], _ = timed(end_to_end, texts)
    # What a serving worker computes for a new query (one thread: `shelf serve` runs a
    # worker per core): ranking, then the page of hits with their reasons and the facets.
    # A fresh query-vector memo, and warm-ups outside the sample, so that nothing is cached.
    service.set_query_model(service.query_model)
    stages["search_response_uncached_in_line"], _ = timed(
        lambda t: service.answer(SearchRequest(query=t)), texts, warm=spare
    )
    service.config.encode_in_parallel = True
    doc = {
        **run_header(),
        "products": len(service.items),
        "queries_timed": len(texts),
        "ranker": type(service.ranker).__name__,
        "ranker_compiled": compiled is not None,
        "tuned_query_model": service.query_model is not None,
        "index_build_s": round(build_s, 1),
        "config": service.config.model_dump(include={"k_lexical", "k_dense", "hnsw_ef_search"}),
        "threads": "1 compute thread; the query is encoded on a second thread while the "
        "lexical stage runs (end to end), except in *_in_line",
        "stages": stages,
    }
    emit(doc, args.out)


if __name__ == "__main__":
    main()
