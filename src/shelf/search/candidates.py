"""Candidate gathering and features: from an index and an understood query to the typed
:class:`Candidates` a ranker scores.

Lexical top-k (field-weighted BM25) and the query log's top-k, plus the vector index's top-k,
form the candidate union (within the filter mask); each candidate gets the inputs of
:func:`shelf.search.features.compute_features`. Whole-catalog scores are computed once per
query and indexed by the candidates; term matches are looked up at the candidates only, in
the postings. When the query is encoded on a second thread, the lexical candidates get their
vector-free inputs first and the vector index's extra candidates are added after.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from shelf.search.features import (
    CandidateData,
    QueryContext,
    compute_features,
    rank_positions,
    title_similarity,
)
from shelf.search.index import SearchIndex
from shelf.search.lexical import bigram_tokens, char_trigrams, top_k
from shelf.search.querylog import K_QUERYLOG, QueryLog
from shelf.search.understand import UnderstoodQuery
from shelf.search.vectors import dense_candidates

SYNONYM_WEIGHT = 0.5
PRF_DEPTH = 10  # lexical results averaged for the feedback vector


@dataclass
class Candidates:
    """A query's candidates (index rows, ascending) and their features, before ranking."""

    understood: UnderstoodQuery
    docs: np.ndarray
    features: np.ndarray
    query_vector: np.ndarray | None


def sorted_lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entry of ``ids``, its index in the non-empty ascending array ``sorted_ids`` and
    whether it is there (a binary search each: np.setdiff1d would sort both arrays again)."""
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return at, np.asarray(sorted_ids[at] == ids)


def sorted_contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per entry of ``ids``, whether the ascending array ``sorted_ids`` holds it."""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    return sorted_lookup(sorted_ids, ids)[1]


def gather(
    index: SearchIndex,
    understood: UnderstoodQuery,
    mask: np.ndarray | None,
    query_log: QueryLog | None,
    query_vector: np.ndarray | None,
    pending: Future[tuple[np.ndarray | None, np.ndarray]] | None = None,
) -> Candidates:
    """The candidates of ``understood`` within ``mask`` and their features; ``pending`` is
    the second thread's (vector, vector-index candidates) when the query is encoded beside."""
    cfg = index.config
    lexical = index.lexical
    terms = understood.terms + understood.synonym_terms
    weights = [1.0] * len(understood.terms) + [SYNONYM_WEIGHT] * len(understood.synonym_terms)
    field_scores = lexical.field_scores(terms, weights)
    lex = lexical.combine(field_scores)
    lex_top = top_k(lex, cfg.k_lexical, mask)
    n_items = len(index)
    if query_log is not None:
        log_scores = query_log.scores(understood.terms, index.positions, n_items, index.analyzer)
        log_top = top_k(log_scores, K_QUERYLOG, mask)
    else:
        log_scores = np.zeros(n_items, dtype=np.float32)
        log_top = np.zeros(0, dtype=np.int64)
    q_bigrams = bigram_tokens(understood.terms)
    catalog = {
        "lex": lex,
        "bigram": lexical.bigrams.scores(q_bigrams),
        "querylog": log_scores,
        **{f"field:{f}": scores for f, scores in field_scores.items()},
    }
    centroid = _feedback_centroid(index, lex_top)
    q_trigrams = char_trigrams(understood.words)

    def columns_of(docs: np.ndarray) -> dict[str, np.ndarray]:
        return _candidate_columns(index, understood, docs, catalog, centroid, q_bigrams, q_trigrams)

    lexical_docs = np.concatenate([lex_top, log_top])
    order: np.ndarray | None = None
    if pending is None:  # one pass over the candidate union
        dense_top = dense_candidates(index, query_vector, mask)
        docs = np.unique(np.concatenate([lexical_docs, dense_top])).astype(np.int64)
        columns = columns_of(docs)
    else:
        early_docs = np.unique(lexical_docs).astype(np.int64)
        early = columns_of(early_docs)
        query_vector, dense_top = pending.result()
        late_docs = dense_top[~sorted_contains(early_docs, dense_top)]
        late = columns_of(late_docs)
        docs = np.concatenate([early_docs, late_docs])
        columns = {name: np.concatenate([early[name], late[name]], axis=-1) for name in early}
        # the candidates go out in index order, as one set would: the feature rows are
        # reordered once at the end (every feature is computed per candidate)
        order = np.argsort(docs, kind="stable")
    if query_vector is not None and index.dense is not None:
        cos = index.dense.cosine(query_vector, docs)
    else:
        cos = np.zeros(len(docs), dtype=np.float32)
    ctx = QueryContext(
        text=understood.text,
        terms=understood.terms,
        idf=[lexical.idf(t) for t in understood.terms],
        synonym_terms=understood.synonym_terms,
        corrected=bool(understood.corrections),
    )
    data = CandidateData(
        lex_scores=columns["lex"],
        field_scores={f: columns[f"field:{f}"] for f in field_scores},
        dense_cos=cos,
        lex_rank=rank_positions(docs, lex_top),
        dense_rank=rank_positions(docs, dense_top),
        bigram_scores=columns["bigram"],
        trigram_scores=columns["trigram"],
        last_term_pos=columns["last_term_pos"],
        n_lex_candidates=len(lex_top),
        word_coverage=columns["word_coverage"],
        prf_cos=columns["prf_cos"],
        term_match=columns["term_match"],
        synonym_match=columns["synonym_match"],
        bigram_match=columns["bigram_match"],
        title_len=columns["title_len"],
        title_similarity=columns["title_similarity"],
        brand_match=columns["brand_match"],
        attribute_match=columns["attribute_match"],
        popularity=columns["popularity"],
        querylog_scores=columns["querylog"],
        querylog_rank=rank_positions(docs, log_top),
    )
    features = compute_features(ctx, data)
    if order is not None:
        docs, features = docs[order], features[order]
    return Candidates(understood, docs, features, query_vector)


def _candidate_columns(
    index: SearchIndex,
    understood: UnderstoodQuery,
    docs: np.ndarray,
    catalog: dict[str, np.ndarray],
    centroid: np.ndarray | None,
    q_bigrams: list[str],
    q_trigrams: list[str],
) -> dict[str, np.ndarray]:
    """The feature inputs of ``docs`` that need no query vector, one entry per column
    (2-d entries have a row per query term, a column per candidate)."""
    columns = {name: scores[..., docs] for name, scores in catalog.items()}
    lexical = index.lexical
    titles = lexical.titles
    columns.update(
        last_term_pos=last_term_position(index, understood.terms, docs),
        word_coverage=word_coverage(index, understood.words, docs),
        term_match=term_match(index, understood.terms, docs),
        synonym_match=term_match(index, understood.synonym_terms, docs),
        bigram_match=bigram_match(index, q_bigrams, docs),
        trigram=lexical.trigrams.scores_at(q_trigrams, docs),
        prf_cos=(
            index.dense.cosine(centroid, docs)
            if centroid is not None and index.dense is not None
            else np.zeros(len(docs), dtype=np.float32)
        ),
        title_len=lexical.fields["title"].doc_len_[docs],
        title_similarity=title_similarity(understood.text, [titles[d] for d in docs.tolist()]),
        brand_match=brand_match(index, understood.brands, docs),
        attribute_match=attribute_match(index, understood.attributes, docs),
        popularity=index.columns.popularity[docs],
    )
    return columns


def term_match(index: SearchIndex, terms: list[str], docs: np.ndarray) -> np.ndarray:
    """(len(terms), len(docs)) bool: the term occurs in any indexed field of the item."""
    out = np.zeros((len(terms), len(docs)), dtype=bool)
    for i, term in enumerate(terms):
        for field in index.lexical.fields.values():
            out[i] |= sorted_contains(field.postings(term), docs)
    return out


def _feedback_centroid(index: SearchIndex, lex_top: np.ndarray) -> np.ndarray | None:
    """Unit mean vector of the best lexical results (pseudo-relevance feedback: what kind of
    product the top matches agree on); its cosine with each candidate is a feature. None
    without vectors or lexical results."""
    if index.dense is None or len(lex_top) == 0:
        return None
    centroid = index.dense.vectors[lex_top[:PRF_DEPTH]].mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    return None if norm == 0 else centroid / norm


def word_coverage(index: SearchIndex, words: list[str], docs: np.ndarray) -> np.ndarray:
    """Per item of ``docs``, the share of the query's non-stop words present, as written,
    among the title's words."""
    wanted = {w for w in words if not index.analyzer.is_stop_word(w)}
    found = np.zeros(len(docs), dtype=np.float32)
    for word in wanted:  # postings hold each item once
        found += sorted_contains(index.lexical.title_word_postings.postings(word), docs)
    return found / len(wanted) if wanted else found


def last_term_position(index: SearchIndex, terms: list[str], docs: np.ndarray) -> np.ndarray:
    """Per item of ``docs``, where the query's last term sits in the title, 0 (first) to 1
    (last); 1.5 if absent. Product titles tend to put the product type last ("...
    Cordless Drill")."""
    out = np.full(len(docs), 1.5, dtype=np.float32)
    if not terms:
        return out
    title = index.lexical.fields["title"]
    having, first = title.first_positions(terms[-1])
    if len(having) == 0:
        return out
    at, hit = sorted_lookup(having, docs)
    first, length = first[at[hit]], title.doc_len_[docs[hit]]
    out[hit] = np.where(length > 1, first / np.maximum(length - 1, 1), 1.0)
    return out


def bigram_match(index: SearchIndex, bigrams: list[str], docs: np.ndarray) -> np.ndarray:
    """(len(bigrams), len(docs)) bool: the title has the two terms next to each other."""
    out = np.zeros((len(bigrams), len(docs)), dtype=bool)
    for i, bigram in enumerate(bigrams):
        out[i] = sorted_contains(index.lexical.bigrams.postings(bigram), docs)
    return out


def brand_match(index: SearchIndex, brands: list[str], docs: np.ndarray) -> np.ndarray:
    if not brands:
        return np.zeros(len(docs), dtype=np.float32)
    columns = index.columns
    vocab = columns.brand_vocabulary()
    ids = [columns.brand_names.index(vocab[b.lower()]) for b in brands if b.lower() in vocab]
    return np.isin(columns.brand_ids[docs], ids).astype(np.float32)


def attribute_match(
    index: SearchIndex, attributes: dict[str, list[str]], docs: np.ndarray
) -> np.ndarray:
    wanted = {v.lower() for values in attributes.values() for v in values}
    if not wanted:
        return np.zeros(len(docs), dtype=np.float32)
    sets = index.attribute_sets
    return np.array([len(wanted & sets[d]) for d in docs.tolist()], np.float32)
