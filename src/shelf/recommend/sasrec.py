"""SASRec (Kang & McAuley, ICDM 2018) trained with softmax cross-entropy over the catalog.

Cross-entropy over the catalog rather than one sampled negative with BCE (Klenitskiy &
Vasilev, RecSys 2023; Petrov & Macdonald, gSASRec 2023). Training uses every position of a
sequence as a target (seq2seq), tied input/output item embeddings, pre-norm blocks and early
stopping on the validation NDCG@10. ``negatives=0`` takes the softmax over every item;
``negatives=k`` over the batch's targets plus ``k`` uniformly drawn items (uniform proposals
need no logQ correction), the default because it runs more epochs in the same time
(docs/design.md).

The text-aware variant (:class:`TextSASRec`) represents item *i* as ``id_emb[i] + W · text[i]``,
where ``text[i]`` is the frozen pretrained encoder's embedding of the item text (UniSRec-style,
Hou et al., KDD 2022). Items with no training interactions have no id part and are left out of
the training softmax, so a new item is scored from its text alone; with ``id_dropout`` the id
part of known items is dropped at random during training so the text path learns to stand alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from shelf.recommend.base import Recommender, Validation, mask_rows
from shelf.recommend.data import SequenceData
from shelf.recommend.metrics import ndcg, target_ranks
from shelf.recommend.sasrec_net import SASRecNet, export_last_hidden

logger = logging.getLogger(__name__)


def left_pad(histories: Sequence[np.ndarray], max_len: int, shift: int = 1) -> np.ndarray:
    """Histories as a left-padded ``(batch, L)`` int64 array of ``index + shift`` (0 = padding).

    ``L`` is the longest history in the batch, capped at ``max_len`` (older items are dropped).
    """
    width = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    out = np.zeros((len(histories), width), dtype=np.int64)
    for row, hist in enumerate(histories):
        tail = np.asarray(hist[-width:], dtype=np.int64)
        if len(tail):
            out[row, width - len(tail) :] = tail + shift
    return out


def length_buckets(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, chunk: int = 64
) -> list[np.ndarray]:
    """Shuffled batches of similar-length sequences (less padding, same epoch contents).

    Shuffles, sorts each window of ``chunk`` batches by length, cuts it into batches, and
    shuffles the batch order.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    span = batch_size * chunk
    for lo in range(0, len(order), span):
        window = order[lo : lo + span]
        window = window[np.argsort(lengths[window], kind="stable")]
        batches.extend(window[i : i + batch_size] for i in range(0, len(window), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sampled_candidates(
    labels: torch.Tensor, pool: torch.Tensor, negatives: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax candidates for a batch: its unique targets plus ``negatives`` items drawn
    uniformly from ``pool`` (sampled softmax; uniform sampling needs no logQ correction beyond
    a constant). Returns the candidate item indices and each label's column among them."""
    draws = pool[torch.randint(len(pool), (negatives,), generator=gen)]
    cand, inverse = torch.unique(torch.cat([labels, draws]), return_inverse=True)
    return cand, inverse[: len(labels)]


class SASRec(Recommender):
    """SASRec with softmax CE over item ids (:class:`TextSASRec` adds the items' text).

    Hyperparameters: ``dim``, ``max_len``, ``n_layers``, ``n_heads``, ``dropout``, ``lr``,
    ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience`` (in evaluations),
    ``eval_every`` (epochs), ``max_validation`` (validation users sampled for early stopping),
    ``id_dropout``
    (text variant), ``impute_neighbours`` (text variant: id embedding of items without
    interactions imputed from this many text neighbours), ``negatives`` (0 = full softmax
    over every item; ``k > 0`` = sampled softmax over the batch's targets plus ``k`` uniform
    items), ``threads`` (torch intra-op
    threads; 1 by default: on a shared 2-core machine two threads ran 3-4x slower than one),
    ``random_state``, ``block`` (``"sasrec"``, the paper's block, or ``"prenorm"``;
    :class:`~shelf.recommend.sasrec_net.SASRecNet`).
    """

    name = "sasrec"

    def __init__(
        self,
        *,
        dim: int = 64,
        max_len: int = 50,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.3,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        max_epochs: int = 200,
        patience: int = 4,
        eval_every: int = 3,
        max_validation: int = 8000,
        id_dropout: float = 0.0,
        impute_neighbours: int = 10,
        negatives: int = 256,
        threads: int = 1,
        random_state: int = 42,
        block: str = "sasrec",
    ) -> None:
        self.block = block
        self.dim = dim
        self.max_len = max_len
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.eval_every = eval_every
        self.max_validation = max_validation
        self.id_dropout = id_dropout
        self.impute_neighbours = impute_neighbours
        self.negatives = negatives
        self.threads = threads
        self.random_state = random_state
        self.progress: Callable[[dict[str, float]], None] | None = None
        # one-history scoring through onnxruntime (export_last_hidden), made on first use
        self._single: Any = None
        self._single_tried = False

    def _build(self, n_items: int, seen: np.ndarray, text: np.ndarray | None) -> SASRecNet:
        return SASRecNet(
            n_items,
            self.dim,
            self.max_len,
            self.n_layers,
            self.n_heads,
            self.dropout,
            text,
            seen,
            self.block,
        )

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        if self.needs_item_text:
            self.item_text_ = np.asarray(data.item_text, dtype=np.float32)
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        n_items = data.n_items
        counts = data.item_counts()
        seen = counts > 0 if self.needs_item_text else np.ones(n_items, dtype=bool)
        self.seen_ = seen
        self.net_ = self._build(n_items, seen, self._text())
        optim = torch.optim.AdamW(
            self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        window = self.max_len + 1
        train = [s[-window:] for s in data.sequences if len(s) >= 2]
        lengths = np.array([len(s) for s in train], dtype=np.int64)
        unseen_cols = torch.from_numpy(np.flatnonzero(~seen))
        train_items = torch.from_numpy(np.flatnonzero(counts > 0))
        gen = torch.Generator().manual_seed(self.random_state)
        best = -1.0
        best_state: dict[str, torch.Tensor] | None = None
        bad = 0
        start = time.perf_counter()
        self.history_: list[dict[str, float]] = []
        for epoch in range(1, self.max_epochs + 1):
            self.net_.train()
            total, steps = 0.0, 0
            for batch_idx in length_buckets(lengths, self.batch_size, rng):
                batch = [train[i] for i in batch_idx]
                seqs = torch.from_numpy(left_pad(batch, window))
                inputs, targets = seqs[:, :-1], seqs[:, 1:]
                keep = None
                if self.id_dropout > 0:
                    keep = (torch.rand(n_items + 1) >= self.id_dropout).float()
                table = self.net_.item_table(keep)
                hidden = self.net_.encode(inputs, table)
                valid = targets > 0
                labels = targets[valid] - 1
                if self.negatives > 0:
                    cand, labels = sampled_candidates(labels, train_items, self.negatives, gen)
                    logits = hidden[valid] @ table[1:][cand].T
                else:
                    logits = hidden[valid] @ table[1:].T
                    if len(unseen_cols):
                        logits[:, unseen_cols] = -1e9
                loss = nn.functional.cross_entropy(logits, labels)
                optim.zero_grad()
                loss.backward()
                optim.step()
                total += float(loss.detach())
                steps += 1
            record = {"epoch": float(epoch), "loss": total / max(steps, 1)}
            last = epoch == self.max_epochs
            if validation is not None and (epoch % self.eval_every == 0 or last):
                ndcg10 = self._validate(validation)
                record["val_ndcg@10"] = ndcg10
                if ndcg10 > best:
                    best, bad = ndcg10, 0
                    best_state = {k: v.clone() for k, v in self.net_.state_dict().items()}
                    self.best_epoch_ = epoch
                else:
                    bad += 1
            record["seconds"] = time.perf_counter() - start
            self.history_.append(record)
            if self.progress is not None:
                self.progress(record)
            if last or (validation is not None and bad >= self.patience):
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.best_val_ndcg10_ = best
        self.net_.eval()
        self._impute_cold_ids()
        self._cache_table()

    def _impute_cold_ids(self) -> None:
        """Give items without training interactions the id embedding of their text neighbours.

        Their id part is otherwise zero, so their scores sit systematically below those of
        known items. The imputed id is the similarity-weighted mean (softmax over cosine / 0.05)
        of the ``impute_neighbours`` text-nearest known items' id embeddings (a kNN
        cold-start imputation); 0 turns it off. Runs after training, so the training softmax
        still never sees these items.
        """
        k = self.impute_neighbours
        text = self._text()
        if k <= 0 or text is None:
            return
        seen = self.seen_
        cold, warm = np.flatnonzero(~seen), np.flatnonzero(seen)
        if not len(cold) or not len(warm):
            return
        k = min(k, len(warm))
        weight = self.net_.item_emb.weight
        id_mask: torch.Tensor = self.net_.id_mask  # type: ignore[assignment]
        with torch.no_grad():
            for lo in range(0, len(cold), 1024):
                rows = cold[lo : lo + 1024]
                sims = text[rows] @ text[warm].T
                top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
                top_sims = np.take_along_axis(sims, top, axis=1) / 0.05
                w = np.exp(top_sims - top_sims.max(axis=1, keepdims=True))
                w /= w.sum(axis=1, keepdims=True)
                neighbours = weight[torch.from_numpy(warm[top] + 1)]
                imputed = (torch.from_numpy(w.astype(np.float32))[..., None] * neighbours).sum(1)
                weight[torch.from_numpy(rows + 1)] = imputed
                id_mask[torch.from_numpy(rows + 1)] = 1.0

    def _validate(self, validation: Validation) -> float:
        self.net_.eval()
        self._cache_table()
        ranks = []
        limit = self.max_validation
        if len(validation.targets) > limit:
            keep = np.random.default_rng(self.random_state).choice(
                len(validation.targets), size=limit, replace=False
            )
            validation = Validation(
                validation.users[keep],
                [validation.histories[k] for k in keep],
                validation.targets[keep],
            )
        for lo in range(0, len(validation.targets), 1024):
            hist = validation.histories[lo : lo + 1024]
            scores = self.score(validation.users[lo : lo + 1024], hist)
            mask_rows(scores, hist)
            ranks.append(target_ranks(scores, validation.targets[lo : lo + 1024]))
        return ndcg(np.concatenate(ranks), 10)

    def _cache_table(self, *, keep_single: bool = False) -> None:
        """Cache the item table for scoring. The one-history ONNX session is made again from
        the network on next use, unless ``keep_single`` (the blocks are unchanged)."""
        if not keep_single:
            self._single, self._single_tried = None, False
        with torch.no_grad():
            self.table_ = self.net_.item_table().detach()
            self.out_table_ = self.table_[1:].T.contiguous()
        table = self.table_[1:].numpy()
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.item_vectors_ = table / np.maximum(norms, 1e-9)

    def _single_session(self) -> Any:
        if not self._single_tried:
            self._single_tried = True
            self._single = export_last_hidden(self.net_)
        return self._single

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        max_len = self.max_len
        session = self._single_session() if len(histories) == 1 else None
        if session is not None:  # a request: one history through onnxruntime
            padded = left_pad(histories, max_len)
            seqs = np.zeros((1, max_len), dtype=np.int64)
            seqs[:, max_len - padded.shape[1] :] = padded
            x = self.table_.numpy()[seqs]
            hidden = session.run(None, {"x": x, "seqs": seqs})[0]
            scores = np.asarray(hidden @ self.out_table_.numpy(), dtype=np.float32)
        else:
            with torch.inference_mode():
                seqs_t = torch.from_numpy(left_pad(histories, max_len))
                hidden_t = self.net_.encode(seqs_t, self.table_)[:, -1]
                scores = (hidden_t @ self.out_table_).numpy()
        empty = np.array([len(h) == 0 for h in histories])
        if empty.any():
            scores[empty] = np.log1p(self.item_counts_)[None, :].astype(np.float32)
        return scores

    def item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"net.{k}": v.numpy() for k, v in self.net_.state_dict().items()}
        arrays["seen"] = self.seen_
        text = self._text()
        if text is not None:
            arrays["item_text"] = text
        return arrays

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.seen_ = arrays["seen"].astype(bool)
        if self.needs_item_text:
            self.item_text_ = arrays["item_text"]
        torch.set_num_threads(self.threads)
        state = {k[4:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("net.")}
        if any(k.startswith("encoder.") for k in state):
            self.block = "prenorm"  # an artifact from before the block was a choice
        self.net_ = self._build(len(self.items_), self.seen_, self._text())
        self.net_.load_state_dict(state)
        self.net_.eval()
        self._cache_table()

    def add_items(self, item_ids: Sequence[str], text: np.ndarray | None = None) -> None:
        """Register new catalog items (text-aware variant): scored from their text, no retrain."""
        if not self.can_add_items or text is None:
            raise ValueError("only the text-aware SASRec can add items from their text")
        new = [i for i in item_ids if i not in self.item_index_]
        if not new:
            return
        rows = np.asarray(text, dtype=np.float32)[[list(item_ids).index(i) for i in new]]
        for item in new:
            self.item_index_[item] = len(self.items_)
            self.items_.append(item)
        self.item_text_ = np.vstack([self.item_text_, rows])
        self.seen_ = np.concatenate([self.seen_, np.zeros(len(new), dtype=bool)])
        self.item_counts_ = np.concatenate([self.item_counts_, np.zeros(len(new), np.int64)])
        state = self.net_.state_dict()
        weight = state["item_emb.weight"]
        state["item_emb.weight"] = torch.cat([weight, torch.zeros(len(new), weight.shape[1])])
        self.net_ = self._build(len(self.items_), self.seen_, self._text())
        state["id_mask"] = self.net_.id_mask
        state["text"] = self.net_.text
        self.net_.load_state_dict(state)
        self.net_.eval()
        self._impute_cold_ids()
        # positions, blocks and final norm are the ones loaded: the exported session stays
        self._cache_table(keep_single=True)

    def _text(self) -> np.ndarray | None:
        """The item text embeddings the network reads (the text-aware variant only)."""
        return self.item_text_ if self.needs_item_text else None


class TextSASRec(SASRec):
    """The text-aware SASRec: item *i* is ``id_emb[i] + W · text[i]`` (see the module doc);
    new items are recommendable from their text alone."""

    name = "sasrec-text"
    needs_item_text = True
    can_add_items = True

    def __init__(self, *, id_dropout: float = 0.3, **params: Any) -> None:
        super().__init__(id_dropout=id_dropout, **params)
