"""The search commands.

* ``shelf search "query" --products FILE | --index DIR`` searches in the terminal;
* ``shelf search-index --products FILE --out DIR [--ranker DIR]`` builds and saves an index;
* ``shelf search-train --products P --queries Q --qrels R --out DIR`` trains the LambdaMART
  re-ranker on judged queries (one command);
* ``shelf eval search ...`` runs the frozen evaluation protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shelf.cli.app import app, eval_app
from shelf.errors import ShelfError

if TYPE_CHECKING:
    from shelf.search.config import SearchConfig


def _fail(exc: ShelfError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _config_with(**settings: Any) -> SearchConfig:
    """A default SearchConfig with ``settings`` changed; a bad value is a usage error."""
    from pydantic import ValidationError as PydanticError

    from shelf.search.config import SearchConfig

    try:
        return SearchConfig(**settings)
    except PydanticError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("search")
def search_command(
    query: str = typer.Argument(..., help="What to search for."),
    products: Path | None = typer.Option(None, help="Catalog JSONL to index on the fly."),
    index: Path | None = typer.Option(None, help="Index directory from `search-index`."),
    ranker: Path | None = typer.Option(None, help="Ranker directory from `search-train`."),
    brand: list[str] = typer.Option([], help="Only these brands (repeatable)."),
    category: str | None = typer.Option(None, help="Category path prefix, 'A > B'."),
    price_min: float | None = typer.Option(None),
    price_max: float | None = typer.Option(None),
    sort: str = typer.Option("relevance", help="relevance, price_asc, price_desc, ..."),
    page: int = typer.Option(1, min=1),
    page_size: int = typer.Option(10, min=1, max=100),
    no_understand: bool = typer.Option(False, help="Take the query literally."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON response."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache directory."),
) -> None:
    """Search a catalog from the terminal."""
    from rich.console import Console
    from rich.table import Table

    from shelf.catalog import split_category_path
    from shelf.formats import read_products
    from shelf.search.persist import load_search
    from shelf.search.rank import load_ranker
    from shelf.search.schemas import SearchRequest
    from shelf.search.service import SearchService

    try:
        asked = SearchRequest.checked(
            query=query,
            filters={
                "brands": brand,
                "category": split_category_path(category),
                "price_min": price_min,
                "price_max": price_max,
            },
            sort=sort,
            page=page,
            page_size=page_size,
            understand=not no_understand,
        )
        if index is not None:
            service = load_search(index, cache_dir=cache_dir)
        elif products is not None:
            service = SearchService.build(read_products(products), cache_dir=cache_dir)
        else:
            raise typer.BadParameter("give --products or --index")
        if ranker is not None:
            service.ranker = load_ranker(ranker)
        response = service.search(asked)
    except ShelfError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    console = Console()
    console.print(f"understood: {json.dumps(response.understood)}")
    table = Table(title=f"{response.total} matches, page {response.page}")
    for col in ("#", "item", "title", "price", "score", "why"):
        table.add_column(col)
    for rank, hit in enumerate(response.items, start=(page - 1) * page_size + 1):
        price = "" if hit.price is None else f"{hit.price:.2f}"
        table.add_row(str(rank), hit.item_id, hit.title, price, f"{hit.score:.3f}", hit.reason)
    console.print(table)


@app.command("search-index")
def search_index_command(
    products: Path = typer.Option(..., help="Catalog JSONL."),
    out: Path = typer.Option(..., help="Directory to write the index to."),
    ranker: Path | None = typer.Option(None, help="Ranker directory to ship with it."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache directory."),
) -> None:
    """Build a search index (with a progress bar) and save it."""
    from shelf.formats import read_products
    from shelf.search.persist import save_search
    from shelf.search.rank import load_ranker
    from shelf.search.service import SearchService

    try:
        service = SearchService.build(read_products(products), cache_dir=cache_dir)
        if ranker is not None:
            service.ranker = load_ranker(ranker)
        save_search(service, out)
    except ShelfError as exc:
        raise _fail(exc) from None
    typer.echo(f"indexed {len(service)} items into {out}")


@app.command("search-train")
def search_train_command(
    products: Path = typer.Option(..., help="Catalog JSONL."),
    queries: Path = typer.Option(..., help="query_id<TAB>query TSV."),
    qrels: Path = typer.Option(..., help="query_id<TAB>product_id<TAB>relevance TSV."),
    out: Path = typer.Option(..., help="Directory to write the ranker to."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache directory."),
    tune_encoder: bool = typer.Option(
        True, help="Also fine-tune the query encoder on the judged queries."
    ),
    query_log: bool = typer.Option(
        True, help="Expand items with the judged queries they answered."
    ),
) -> None:
    """Train the re-ranker (and the query encoder) on judged queries and save them."""
    from rich.progress import Progress

    from shelf.formats import read_products, read_qrels, read_queries
    from shelf.search.service import SearchService
    from shelf.train.search import train_search

    try:
        service = SearchService.build(read_products(products), cache_dir=cache_dir)
        with Progress() as bars:

            def bar(label: str, total: int) -> Callable[[int], None]:
                task = bars.add_task(label, total=total)
                return lambda n: bars.advance(task, n)

            trained = train_search(
                service,
                read_queries(queries),
                read_qrels(qrels),
                tune_encoder=tune_encoder,
                query_log=query_log,
                log=bars.console.print,
                progress=bar,
            )
        trained.save(out)
    except ShelfError as exc:
        raise _fail(exc) from None
    typer.echo(f"ranker written to {out}")


@eval_app.command("search")
def eval_search_command(
    products: Path = typer.Option(..., help="products.jsonl (product_id, title, ...)."),
    queries: Path = typer.Option(..., help="Evaluated queries TSV."),
    qrels: Path = typer.Option(..., help="Judgements of the evaluated queries TSV."),
    train_queries: Path | None = typer.Option(None, help="Training queries TSV."),
    train_qrels: Path | None = typer.Option(None, help="Training judgements TSV."),
    pipeline: str = typer.Option("ltr", help="ltr, linear, lexical or dense."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds without train files."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(..., help="Where to write metrics.json."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache directory."),
    no_baselines: bool = typer.Option(False, help="Skip the reference baselines."),
    threads: int = typer.Option(1, min=1, help="Threads for torch, faiss and numpy's BLAS."),
    latency_queries: int = typer.Option(500, min=0, help="Queries timed one at a time (0: all)."),
    query_backend: str = typer.Option(
        "onnx-int8", help="Query encoder: onnx-int8 or torch (the float model)."
    ),
    tune_encoder: bool = typer.Option(
        True, help="ltr: fine-tune the query encoder on each fold's training queries."
    ),
    query_log: bool = typer.Option(
        True, help="ltr: expand items with the training queries they answered."
    ),
) -> None:
    """Evaluate search under the frozen protocol (shared/benchmarks/PROTOCOL.md)."""
    from shelf.threads import cap_threads

    cap_threads(threads)
    from shelf.evaluate.search_protocol import evaluate_search
    from shelf.formats import read_products, read_qrels, read_queries

    if (train_queries is None) != (train_qrels is None):
        raise typer.BadParameter("give both --train-queries and --train-qrels, or neither")
    try:
        doc = evaluate_search(
            read_products(products),
            read_queries(queries),
            read_qrels(qrels),
            train_queries=read_queries(train_queries) if train_queries else None,
            train_qrels=read_qrels(train_qrels) if train_qrels else None,
            pipeline=pipeline,
            folds=folds,
            seed=seed,
            cache_dir=cache_dir,
            config=_config_with(query_backend=query_backend),
            baselines=not no_baselines,
            tune_encoder=tune_encoder,
            query_log=query_log,
            latency_queries=latency_queries or None,
            log=lambda msg: typer.echo(msg, err=True),
        )
    except ShelfError as exc:
        raise _fail(exc) from None
    doc["command"] = {
        "products": str(products),
        "queries": str(queries),
        "qrels": str(qrels),
        "train_queries": str(train_queries) if train_queries else None,
        "pipeline": pipeline,
        "tune_encoder": tune_encoder,
        "query_log": query_log,
        "folds": folds,
        "seed": seed,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    summary = {k: doc[k] for k in ("ndcg@10", "recall@100", "mrr@10", "p50_ms", "p99_ms")}
    typer.echo(json.dumps(summary))
