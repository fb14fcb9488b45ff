"""Features of (query, candidate item) pairs for the re-ranker.

Each feature is a small, explainable signal: per-field BM25, dense cosine, ranks in each
retriever, term coverage (plain and idf-weighted), bigram and phrase matches, fuzzy string
similarity (rapidfuzz), spelling corrections, lengths, numbers matched, understood brand and
attribute matches, popularity. :data:`FEATURE_NAMES` fixes their order in the matrix. The
computation is vectorised over candidates (a query term's matches come from the index postings)
so a few hundred candidates cost about a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

FEATURE_NAMES: tuple[str, ...] = (
    "lex_score",
    "lex_score_rel",
    "bm25_title",
    "bm25_brand",
    "bm25_category",
    "bm25_description",
    "bm25_attributes",
    "dense_cos",
    "dense_cos_rel",
    "log_lex_rank",
    "log_dense_rank",
    "coverage",
    "idf_coverage",
    "all_terms",
    "last_term",
    "first_term",
    "bigram_frac",
    "bm25_bigrams",
    "phrase",
    "numbers_matched",
    "numbers_in_query",
    "token_set_ratio",
    "title_terms",
    "query_terms",
    "corrected",
    "synonym_cov",
    "brand_match",
    "attribute_match",
    "log_popularity",
    "bm25_trigrams",
    "bm25_trigrams_rel",
    "max_lex_score",
    "max_dense_cos",
    "n_lex_candidates",
    "query_chars",
    "matched_terms",
    "last_term_pos",
    "min_query_idf",
    "max_query_idf",
    "last_term_idf",
    "word_coverage",
    "prf_cos",
    "prf_cos_rel",
    "querylog_bm25",
    "log_querylog_rank",
)
MISSING_RANK = 1000
_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass
class QueryContext:
    """What the features need from the query."""

    text: str
    terms: list[str]
    idf: list[float]
    synonym_terms: list[str]
    corrected: bool


@dataclass
class CandidateData:
    """Per-candidate inputs, each aligned with the candidate array."""

    lex_scores: np.ndarray
    field_scores: dict[str, np.ndarray]
    dense_cos: np.ndarray
    lex_rank: np.ndarray
    dense_rank: np.ndarray
    bigram_scores: np.ndarray  # BM25 of the query's bigrams over title bigrams
    trigram_scores: np.ndarray  # BM25 of the query's character trigrams
    last_term_pos: np.ndarray  # relative position of the last query term in the title (or 1)
    n_lex_candidates: int
    word_coverage: np.ndarray  # share of the query's surface words found unstemmed in the title
    prf_cos: np.ndarray  # cosine with the centroid of the top lexical results (feedback)
    term_match: np.ndarray  # (n query terms, n candidates) bool: term in the title
    synonym_match: np.ndarray  # (n synonym terms, n candidates) bool
    bigram_match: np.ndarray  # (n query bigrams, n candidates) bool
    title_len: np.ndarray
    title_similarity: np.ndarray  # rapidfuzz token-set ratio of query and title, 0..1
    brand_match: np.ndarray
    attribute_match: np.ndarray
    popularity: np.ndarray
    querylog_scores: np.ndarray  # BM25 against the queries each item answered (query log)
    querylog_rank: np.ndarray


def longest_true_run(flags: np.ndarray) -> np.ndarray:
    """Per column, the longest run of consecutive True rows of a (rows, cols) bool matrix."""
    best = np.zeros(flags.shape[1], dtype=np.int32)
    run = np.zeros(flags.shape[1], dtype=np.int32)
    for row in flags:
        run = np.where(row, run + 1, 0)
        best = np.maximum(best, run)
    return best


def title_similarity(text: str, titles: list[str]) -> np.ndarray:
    """rapidfuzz's token-set ratio of ``text`` with each title, scaled to 0..1 (0 without
    text)."""
    if not text or not titles:
        return np.zeros(len(titles), dtype=np.float32)
    ratios = process.cdist([text], titles, scorer=fuzz.token_set_ratio, workers=1)
    return np.asarray(ratios[0], dtype=np.float32) / np.float32(100.0)


def compute_features(ctx: QueryContext, data: CandidateData) -> np.ndarray:
    """Feature matrix ``(n candidates, len(FEATURE_NAMES))``, float32."""
    n = len(data.lex_scores)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    c = _COL
    max_lex = float(data.lex_scores.max())
    max_cos = float(data.dense_cos.max())
    out[:, c["lex_score"]] = data.lex_scores
    out[:, c["lex_score_rel"]] = data.lex_scores / max_lex if max_lex > 0 else 0.0
    for f in ("title", "brand", "category", "description", "attributes"):
        out[:, c[f"bm25_{f}"]] = data.field_scores[f]
    out[:, c["dense_cos"]] = data.dense_cos
    out[:, c["dense_cos_rel"]] = data.dense_cos - max_cos
    out[:, c["log_lex_rank"]] = np.log1p(data.lex_rank)
    out[:, c["log_dense_rank"]] = np.log1p(data.dense_rank)
    m = data.term_match
    k = len(ctx.terms)
    if k:
        idf = np.asarray(ctx.idf, dtype=np.float32)
        out[:, c["coverage"]] = m.mean(axis=0)
        out[:, c["idf_coverage"]] = (idf @ m) / max(float(idf.sum()), 1e-9)
        out[:, c["all_terms"]] = m.all(axis=0)
        out[:, c["last_term"]] = m[-1]
        out[:, c["first_term"]] = m[0]
        numbers = [i for i, t in enumerate(ctx.terms) if t[:1].isdigit()]
        if numbers:
            out[:, c["numbers_matched"]] = m[numbers].mean(axis=0)
        out[:, c["numbers_in_query"]] = len(numbers)
    out[:, c["bm25_bigrams"]] = data.bigram_scores
    if len(data.bigram_match):
        out[:, c["bigram_frac"]] = data.bigram_match.mean(axis=0)
        run = longest_true_run(data.bigram_match)
        out[:, c["phrase"]] = np.where(run > 0, run + 1, 0) / max(k, 1)
    if len(data.synonym_match):
        out[:, c["synonym_cov"]] = data.synonym_match.mean(axis=0)
    out[:, c["token_set_ratio"]] = data.title_similarity
    out[:, c["title_terms"]] = data.title_len
    out[:, c["query_terms"]] = k
    out[:, c["corrected"]] = float(ctx.corrected)
    out[:, c["brand_match"]] = data.brand_match
    out[:, c["attribute_match"]] = data.attribute_match
    out[:, c["log_popularity"]] = np.log1p(data.popularity)
    out[:, c["bm25_trigrams"]] = data.trigram_scores
    max_tri = float(data.trigram_scores.max())
    out[:, c["bm25_trigrams_rel"]] = data.trigram_scores / max_tri if max_tri > 0 else 0.0
    out[:, c["max_lex_score"]] = max_lex
    out[:, c["max_dense_cos"]] = max_cos
    out[:, c["n_lex_candidates"]] = data.n_lex_candidates
    out[:, c["query_chars"]] = len(ctx.text)
    out[:, c["matched_terms"]] = m.sum(axis=0) if k else 0
    out[:, c["last_term_pos"]] = data.last_term_pos
    if k:
        out[:, c["min_query_idf"]] = min(ctx.idf)
        out[:, c["max_query_idf"]] = max(ctx.idf)
        out[:, c["last_term_idf"]] = ctx.idf[-1]
    out[:, c["word_coverage"]] = data.word_coverage
    out[:, c["prf_cos"]] = data.prf_cos
    out[:, c["prf_cos_rel"]] = data.prf_cos - float(data.prf_cos.max())
    out[:, c["querylog_bm25"]] = data.querylog_scores
    out[:, c["log_querylog_rank"]] = np.log1p(data.querylog_rank)
    return out


def rank_positions(docs: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """0-based position of each of ``docs`` in ``ranked`` (distinct ids), or
    :data:`MISSING_RANK`."""
    out = np.full(len(docs), MISSING_RANK, dtype=np.float32)
    if len(ranked) == 0 or len(docs) == 0:
        return out
    sorter = np.argsort(ranked, kind="stable")
    at = np.minimum(np.searchsorted(ranked, docs, sorter=sorter), len(ranked) - 1)
    hit = ranked[sorter[at]] == docs
    out[hit] = sorter[at[hit]]
    return out
