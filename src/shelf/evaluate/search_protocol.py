"""The search evaluation protocol: full-catalog retrieval on judged queries.

Reads any ``products.jsonl`` / ``queries.tsv`` / ``qrels.tsv`` of the Home Depot format, builds
the index over every product, retrieves the top 100 for each query and reports the metrics of
:mod:`shelf.evaluate.search_metrics` with per-query latency. Learned stages never see the
queries they are evaluated on: with ``train_queries``/``train_qrels`` the ranker is trained on
those (overlapping query ids are refused); without them it is k-fold cross-validated on the
evaluated queries, split by query id. The reference baselines (bm25s with default settings over
titles, bm25s over stemmed titles without stop words, dense-only) are run in the same call.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shelf.catalog import Item
from shelf.errors import ValidationError
from shelf.evaluate.search_metrics import evaluate_rankings, latency_summary
from shelf.search.candidates import Candidates
from shelf.search.config import SearchConfig
from shelf.search.features import FEATURE_NAMES
from shelf.search.rank import LinearRanker
from shelf.search.service import SearchService
from shelf.text.encoder import CachedEncoder, Encoder
from shelf.train.search import TrainedSearch, kfold_ids, train_search

PIPELINES = ("ltr", "linear", "lexical", "dense")
TOP_K = 100
WARMUP_QUERIES = ("warm up drill", "warm up paint", "warm up faucet", "warm up lumber")


def check_disjoint(eval_ids: set[str], train_ids: set[str]) -> None:
    overlap = eval_ids & train_ids
    if overlap:
        example = sorted(overlap)[:3]
        raise ValidationError(
            f"{len(overlap)} query ids are in both the training and the evaluated queries "
            f"(e.g. {example}); never train on evaluated queries",
            field="train_queries",
        )


def _top_ids(service: SearchService, docs: np.ndarray, scores: np.ndarray) -> list[str]:
    order = np.lexsort((docs, -scores))[:TOP_K]
    return [service.items[d].item_id for d in docs[order].tolist()]


def _baseline_bm25s(
    items: list[Item], queries: Mapping[str, str], *, stemmed: bool
) -> tuple[dict[str, list[str]], list[float]]:
    import bm25s

    stemmer = None
    stopwords: str | None = None
    if stemmed:
        import Stemmer

        stemmer, stopwords = Stemmer.Stemmer("english"), "en"
    corpus = bm25s.tokenize(
        [i.title for i in items], stopwords=stopwords, stemmer=stemmer, show_progress=False
    )
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    ids = [i.item_id for i in items]
    for q in WARMUP_QUERIES:
        qt = bm25s.tokenize([q], stopwords=stopwords, stemmer=stemmer, show_progress=False)
        retriever.retrieve(qt, k=min(TOP_K, len(ids)), show_progress=False)
    rankings: dict[str, list[str]] = {}
    times: list[float] = []
    for qid, q in queries.items():
        t0 = time.perf_counter()
        qt = bm25s.tokenize([q], stopwords=stopwords, stemmer=stemmer, show_progress=False)
        if not qt.vocab:
            rankings[qid] = []
            times.append(time.perf_counter() - t0)
            continue
        docs, scores = retriever.retrieve(qt, k=min(TOP_K, len(ids)), show_progress=False)
        times.append(time.perf_counter() - t0)
        rankings[qid] = [ids[d] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
    return rankings, times


def thread_counts(config: SearchConfig | None = None) -> dict[str, int]:
    """Threads each library may use, as reported by the libraries, and the second thread that
    encodes the query and searches the vector index beside the lexical stage."""
    counts: dict[str, int] = {"cpu_count": os.cpu_count() or 0, "ranker_predict": 1}
    if config is not None:
        counts["query_encoding_and_vector_search_beside_lexical"] = int(config.encode_in_parallel)
    try:
        import torch

        counts["torch"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    try:
        import faiss

        counts["faiss"] = faiss.omp_get_max_threads()
    except ImportError:  # pragma: no cover
        pass
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    if blas:
        counts["numpy_blas"] = max(blas)
    return counts


def evaluate_search(
    products: list[Item],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    train_queries: Mapping[str, str] | None = None,
    train_qrels: Mapping[str, Mapping[str, float]] | None = None,
    pipeline: str = "ltr",
    folds: int = 5,
    seed: int = 0,
    cache_dir: Path | None = None,
    config: SearchConfig | None = None,
    baselines: bool = True,
    encoder: Encoder | None = None,
    latency_queries: int | None = 500,
    ranker_params: Mapping[str, Any] | None = None,
    tune_encoder: bool = True,
    query_log: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the protocol; returns the metrics document (see the module docstring)."""
    if pipeline not in PIPELINES:
        raise ValidationError(
            f"unknown pipeline {pipeline!r}; one of {PIPELINES}", field="pipeline"
        )
    if (train_queries is None) != (train_qrels is None):
        raise ValidationError("give both train queries and train qrels, or neither", field="train")
    if train_queries is not None:
        check_disjoint(set(queries), set(train_queries))
        check_disjoint(set(queries), set(train_qrels or {}))
    config = config or SearchConfig()
    if pipeline == "lexical":
        config = config.model_copy(update={"k_dense": 0})
    started = time.perf_counter()
    service = SearchService.build(
        products, cache_dir=cache_dir, config=config, encoder=encoder, show_progress=False
    )
    build_s = time.perf_counter() - started
    log(f"indexed {len(products)} products in {build_s:.1f}s")

    # Quality pass: every query, untimed, its vector from the same query encoder that serves
    # (the int8 ONNX path by default), so quality and latency describe one pipeline.
    understood = {qid: service.understand(q) for qid, q in queries.items()}
    log(f"encoding {len(understood)} queries")
    vectors = {qid: service.query_vector(u.text, cached=False) for qid, u in understood.items()}
    prepared: dict[str, Candidates] = {}
    for n, (qid, u) in enumerate(understood.items(), start=1):
        prepared[qid] = service.prepare(u, query_vector=vectors[qid])
        if n % 1000 == 0:
            log(f"prepared {n}/{len(queries)} queries")

    # Latency pass: a seeded sample of queries, one at a time after warm-up, timed end to end
    # (understanding, query encoding by the model, both retrievers, features, ranking, sort).
    for q in WARMUP_QUERIES:
        service.score(service.prepare(service.understand(q)))
    sample = sorted(queries)
    random.Random(seed).shuffle(sample)
    sample = sample[: latency_queries or len(sample)]

    def timed_with(trained_of: Callable[[str], Any], qid: str) -> float:
        t0 = time.perf_counter()
        u = service.understand(queries[qid])
        prep = service.prepare(u, cached=False)  # encodes the query (uncached) itself
        scores = trained_of(qid).predict(prep.features) if len(prep.docs) else np.zeros(0)
        _top_ids(service, prep.docs, np.asarray(scores))
        return time.perf_counter() - t0

    def with_query_model(trained: TrainedSearch | None, qid: str) -> float:
        service.set_query_model(None if trained is None else trained.query_model)
        service.set_query_log(None if trained is None else trained.query_log)
        return timed_with(lambda _q: linear if trained is None else trained.ranker, qid)

    results: dict[str, dict[str, Any]] = {}
    load_during_latency: dict[str, list[float]] = {}  # the machine's 1/5/15-min load averages
    linear = LinearRanker()
    # pipeline -> (the trained search answering each query or None for the linear default,
    #              the prepared candidates each query is ranked from)
    runs: dict[str, tuple[Callable[[str], TrainedSearch | None], Mapping[str, Candidates]]] = {
        "linear": (lambda _qid: None, prepared)
    }
    if pipeline == "ltr":
        trained_of: dict[str, TrainedSearch] = {}
        ltr_prepared: dict[str, Candidates] = dict(prepared)
        if train_queries is not None and train_qrels is not None:
            log(f"training on {len(train_queries)} training queries")
            trained = train_search(
                service,
                train_queries,
                train_qrels,
                tune_encoder=tune_encoder,
                query_log=query_log,
                ranker_params=ranker_params,
                log=log,
            )
            fold_plan = [(list(queries), trained)]
            training: dict[str, Any] = {
                "mode": "train files",
                "train_queries": len(train_queries),
            }
        else:
            fold_plan = []
            for i, fold in enumerate(kfold_ids(list(queries), folds, seed)):
                held = set(fold)
                train = {q: t for q, t in queries.items() if q not in held}
                log(f"fold {i + 1}/{folds}: training on {len(train)} queries")
                trained = train_search(
                    service,
                    train,
                    qrels,
                    tune_encoder=tune_encoder,
                    query_log=query_log,
                    ranker_params=ranker_params,
                    log=log,
                )
                fold_plan.append((fold, trained))
            training = {"mode": f"{folds}-fold cross-validation by query id", "seed": seed}
        compiled = all(trained.ranker.compile() for _, trained in fold_plan)
        for fold, trained in fold_plan:
            trained_of.update(dict.fromkeys(fold, trained))
            if trained.query_model is not None or trained.query_log is not None:
                # the fold's queries, with the query model and query log learned without them
                service.set_query_model(trained.query_model)
                service.set_query_log(trained.query_log)
                for qid in fold:
                    u = understood[qid]
                    vector = service.query_vector(u.text, cached=False)
                    ltr_prepared[qid] = service.prepare(u, query_vector=vector)
        service.set_query_model(None)
        service.set_query_log(None)
        tuned = any(t.query_model is not None for _, t in fold_plan)
        training["query_encoder"] = "fine-tuned per fold (int8 ONNX)" if tuned else "as indexed"
        training["query_log"] = "from training queries" if query_log else "off"
        training["ranker_scoring"] = "lleaves (compiled trees)" if compiled else "LightGBM"
        runs["ltr"] = (trained_of.__getitem__, ltr_prepared)

    for name, (trained_for, prepared_for) in runs.items():
        rankings: dict[str, list[str]] = {}
        for qid, prep in prepared_for.items():
            ranked_by = trained_for(qid)
            ranker = linear if ranked_by is None else ranked_by.ranker
            scores = ranker.predict(prep.features) if len(prep.docs) else np.zeros(0)
            rankings[qid] = _top_ids(service, prep.docs, np.asarray(scores))
        for model in {id(trained_for(q)): trained_for(q) for q in sample}.values():
            service.set_query_model(None if model is None else model.query_model)
            service.set_query_log(None if model is None else model.query_log)
            for q in WARMUP_QUERIES:  # loads each fold's ONNX session and query log first
                service.score(service.prepare(service.understand(q)))
        times = [with_query_model(trained_for(qid), qid) for qid in sample]
        load_during_latency[name] = [round(x, 2) for x in os.getloadavg()]
        service.set_query_model(None)
        service.set_query_log(None)
        results[name] = {**evaluate_rankings(rankings, qrels), **latency_summary(times)}
        log(f"{name}: {results[name]}")

    # our retrievers alone, from the same candidates
    lex_col, cos_col = FEATURE_NAMES.index("lex_score"), FEATURE_NAMES.index("dense_cos")
    for name, col in (("lexical", lex_col), ("dense", cos_col)):
        rankings = {}
        for qid, prep in prepared.items():
            keep = prep.features[:, col] > (0 if name == "lexical" else -2)
            rankings[qid] = _top_ids(service, prep.docs[keep], prep.features[keep, col])
        results[name] = {**evaluate_rankings(rankings, qrels), "p50_ms": None, "p99_ms": None}

    doc: dict[str, Any] = dict(results[pipeline])
    doc["pipeline"] = pipeline
    doc["pipelines"] = results
    if pipeline == "ltr":
        doc["training"] = training
    if baselines:
        doc["baselines"] = {}
        for name, stemmed in (("bm25s_default_titles", False), ("bm25s_stemmed_titles", True)):
            rankings, times = _baseline_bm25s(products, queries, stemmed=stemmed)
            doc["baselines"][name] = {
                **evaluate_rankings(rankings, qrels),
                **latency_summary(times),
            }
            log(f"{name}: {doc['baselines'][name]}")
        if service.index.dense is not None and service.index.encoder is not None:
            # the reference dense baseline: the float model through sentence-transformers
            raw = (
                service.index.encoder.encoder
                if isinstance(service.index.encoder, CachedEncoder)
                else None
            )
            query_model: Encoder = raw if raw is not None else service.index.encoder
            texts = list(queries.values())
            query_vectors = query_model.encode(texts, batch_size=128)
            rankings = {}
            for qid, vec in zip(queries, query_vectors, strict=True):
                docs, _ = service.index.dense.search(vec, TOP_K)
                rankings[qid] = [service.items[d].item_id for d in docs.tolist()]
            times = []
            for qid in sample:
                t0 = time.perf_counter()
                service.index.dense.search(query_model.encode([queries[qid]])[0], TOP_K)
                times.append(time.perf_counter() - t0)
            doc["baselines"]["dense_minilm"] = {
                **evaluate_rankings(rankings, qrels),
                **latency_summary(times),
            }
            log(f"dense_minilm: {doc['baselines']['dense_minilm']}")
    doc["setup"] = {
        "protocol": "shared/benchmarks/PROTOCOL.md, Search: full catalog, top 100",
        "products": len(products),
        "queries_given": len(queries),
        "index_build_s": round(build_s, 1),
        "latency": "in-process, one query at a time, after warm-up, on a seeded sample of "
        f"{len(sample)} queries; understanding + query encoding + lexical + dense + features "
        "+ ranking + top-100 sort (quality uses every query, vectors encoded in one batch)",
        "threads": thread_counts(config),
        "load_average_after_each_latency_pass": load_during_latency,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "config": config.model_dump(),
    }
    return doc
