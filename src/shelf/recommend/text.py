"""Item text embeddings for the text-aware recommenders (the pretrained encoder's vectors of
:func:`shelf.catalog.recommender_text`, cached on disk by the encoder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from shelf.text.encoder import load_encoder


def item_embeddings(items: Sequence[str], texts: Mapping[str, str]) -> np.ndarray:
    """One embedding row per item of ``items`` (zero rows for items without text)."""
    encoder = load_encoder("minilm", num_threads=1)
    known = [i for i in items if texts.get(i)]
    out = np.zeros((len(items), encoder.dim), dtype=np.float32)
    if known:
        vectors = encoder.encode([texts[i] for i in known], batch_size=128)
        index = {item: k for k, item in enumerate(items)}
        out[[index[i] for i in known]] = vectors
    return out
