"""A search index on disk: the index (config, items, item vectors) and its ranker directory
(the ranker, and the tuned query model and query log beside it), written without pickles."""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from shelf.search.index import read_saved
from shelf.search.learned import (
    load_query_log,
    load_query_model,
    save_query_log,
    save_query_model,
)
from shelf.search.rank import load_ranker
from shelf.search.service import SearchService
from shelf.text.encoder import load_encoder


def save_search(service: SearchService, path: Path) -> None:
    """Write ``service``'s index and ranker directory to ``path``."""
    service.index.save(path)
    service.ranker.save(path / "ranker")
    save_query_model(service.query_model, path / "ranker")
    save_query_log(service.query_log, path / "ranker")


def load_search(
    path: Path,
    *,
    cache_dir: Path | None = None,
    show_progress: bool = False,
    graph_cache: Path | None = None,
) -> SearchService:
    """A service over an index saved by :func:`save_search`; the text indexes are rebuilt,
    the saved vectors reused."""
    config, items, vectors = read_saved(path)
    encoder = None
    if config.encoder and config.k_dense > 0:
        encoder = load_encoder(
            config.encoder, cache_dir=cache_dir, query_backend=config.query_backend
        )
    service = SearchService(config, encoder=encoder, ranker=load_ranker(path / "ranker"))
    service.index.graph_cache = graph_cache
    if encoder is not None and vectors is not None:
        with Progress(disable=not show_progress, transient=True) as progress:
            service.index.add(items, None, progress)
        service.index.attach_vectors(vectors)
    else:
        service.add_items(items, show_progress=show_progress)
    service.set_query_model(load_query_model(path / "ranker"))
    service.set_query_log(load_query_log(path / "ranker"))
    return service
