"""SASRec's network: a causal transformer over item sequences with the item table tied
between input and output, and its one-history ONNX export for serving."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)


class SASRecNet(nn.Module):
    """Causal transformer over item sequences; item table tied between input and output."""

    def __init__(
        self,
        n_items: int,
        dim: int,
        max_len: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        text: np.ndarray | None,
        seen: np.ndarray,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.max_len = max_len
        self.n_heads = n_heads
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, n_heads, dim * 2, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        mask = np.concatenate([[0.0], seen.astype(np.float32)])
        self.register_buffer("id_mask", torch.from_numpy(mask.astype(np.float32)))
        self.text_proj: nn.Linear | None = None
        if text is not None:
            padded = np.vstack([np.zeros((1, text.shape[1]), np.float32), text])
            self.register_buffer("text", torch.from_numpy(padded.astype(np.float32)))
            self.text_proj = nn.Linear(text.shape[1], dim)

    def item_table(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Representation of every item (row 0 = padding), shape ``(n_items + 1, dim)``."""
        id_mask: torch.Tensor = self.id_mask  # type: ignore[assignment]
        keep = id_mask if id_keep is None else id_mask * id_keep
        table = self.item_emb.weight * keep[:, None]
        if self.text_proj is not None:
            table = table + self.text_proj(self.text)
        return table

    def encode(self, seqs: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, L, dim)`` for left-padded index sequences."""
        return self.encode_embedded(table[seqs], seqs)

    def encode_embedded(self, x: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` from the sequences' item representations ``x = table[seqs]``."""
        length = seqs.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=seqs.device)
        x = self.drop(x + self.pos_emb(positions)[None])
        valid = seqs > 0
        # masks from comparing positions (not tril/eye): the same masks, in operators that
        # onnxruntime runs (it has no boolean EyeLike)
        at = torch.arange(length, device=seqs.device)
        causal = at[:, None] >= at[None, :]
        allowed = causal[None] & (valid[:, None, :] | (at[:, None] == at[None, :])[None])
        blocked = ~allowed.repeat_interleave(self.n_heads, dim=0)
        out = self.encoder(x, mask=blocked)
        return self.norm(out)


class _LastHidden(nn.Module):
    """The last position's hidden state, the part of :class:`SASRecNet` exported to ONNX."""

    def __init__(self, net: SASRecNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        return self.net.encode_embedded(x, seqs)[:, -1]


def export_last_hidden(net: SASRecNet) -> Any:
    """An onnxruntime session computing, for one history left-padded to ``max_len``, the last
    hidden state from the history's item representations (inputs ``x`` and ``seqs``), or None
    when onnxruntime or the export is unavailable (a warning says why).

    A request scores one history; through eager torch its many small operators cost more in
    dispatch than in arithmetic, which one onnxruntime call avoids. The shapes are fixed at
    (1, max_len): padding is masked, so the last hidden state is the same as for the shorter
    padding of :func:`left_pad`. The item table stays outside the graph, so adding items
    needs no new export.
    """
    import tempfile
    import warnings

    try:
        import onnxruntime as ort

        seqs = torch.zeros((1, net.max_len), dtype=torch.int64)
        seqs[0, -1] = 1
        x = torch.zeros((1, net.max_len, net.dim))
        # with gradients on, torch takes the transformer layers' composite path (its fused
        # inference kernel has no ONNX form)
        with (
            tempfile.TemporaryDirectory(prefix="shelf-sasrec-") as tmp,
            warnings.catch_warnings(),
            torch.enable_grad(),
        ):
            warnings.simplefilter("ignore")
            path = Path(tmp) / "last-hidden.onnx"
            torch.onnx.export(
                _LastHidden(net).eval(),
                (x, seqs),
                str(path),
                input_names=["x", "seqs"],
                output_names=["hidden"],
                opset_version=17,
                dynamo=False,
            )
            model = path.read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # any failure leaves the torch path serving
        logger.warning("SASRec serves through torch: ONNX export unavailable (%s)", exc)
        return None
