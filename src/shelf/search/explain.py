"""Why each hit was found, in words a shopper can read: the query terms its title matched, a
strong semantic match, spelling corrections, synonyms, brand and attribute boosts."""

from __future__ import annotations

import numpy as np

from shelf.search.candidates import Candidates
from shelf.search.features import FEATURE_NAMES
from shelf.search.index import SearchIndex

SEMANTIC_REASON_COS = 0.5  # a cosine from which the semantic match is named
# the feature columns a hit's reason reads
_REASON_COLUMNS = np.array(
    [
        FEATURE_NAMES.index(name)
        for name in ("dense_cos", "synonym_cov", "brand_match", "attribute_match")
    ]
)


def reasons(index: SearchIndex, candidates: Candidates, rows: np.ndarray) -> list[str]:
    """The reason of each candidate at ``rows`` of ``candidates``."""
    understood = candidates.understood
    common = []  # what every hit of the query shares
    if understood.corrections:
        fixes = ", ".join(f"{a}->{b}" for a, b in understood.corrections.items())
        common.append(f"spelling {fixes}")
    out = []
    values = candidates.features[np.ix_(rows, _REASON_COLUMNS)].tolist()
    title_terms = index.lexical.title_terms
    for doc, (dense_cos, synonym_cov, brand_match, attribute_match) in zip(
        candidates.docs[rows].tolist(), values, strict=True
    ):
        terms = set(title_terms[doc])
        matched = [t for t in understood.terms if t in terms]
        parts = []
        if matched:
            parts.append("matched " + ", ".join(matched))
        if dense_cos >= SEMANTIC_REASON_COS:
            parts.append(f"semantic match {dense_cos:.2f}")
        parts.extend(common)
        if synonym_cov > 0:
            parts.append("synonym")
        if brand_match > 0:
            parts.append("brand boost")
        if attribute_match > 0:
            parts.append("attribute boost")
        out.append("; ".join(parts) or "related")
    return out
