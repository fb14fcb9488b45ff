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


BLOCKS = ("sasrec", "prenorm")


class SASRecBlock(nn.Module):
    """The block of the SASRec paper (Kang & McAuley, ICDM 2018): attention queries from the
    normalised input, keys and values from the raw one; a ReLU feed-forward of width ``dim``;
    padding zeroed after the block."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.attn = nn.MultiheadAttention(dim, n_heads, dropout=dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, blocked: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        q = self.attn_norm(x)
        x = self.attn(q, x, x, attn_mask=blocked, need_weights=False)[0] + x
        x = self.ffn_norm(x)
        return (self.ffn(x) + x).masked_fill(pad, 0.0)


class SASRecNet(nn.Module):
    """Causal transformer over item sequences; item table tied between input and output.

    ``block="sasrec"`` stacks :class:`SASRecBlock` (embeddings scaled by sqrt(dim), Xavier
    initialisation, as the paper); ``"prenorm"`` stacks torch's pre-norm encoder layers with a
    GELU feed-forward of width ``2 dim`` (the network of artifacts written before the choice).
    """

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
        block: str = "sasrec",
    ) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"SASRec block must be one of {BLOCKS}, got {block!r}")
        self.dim = dim
        self.max_len = max_len
        self.n_heads = n_heads
        self.block = block
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0
        self.blocks = nn.ModuleList()
        self.encoder: nn.TransformerEncoder | None = None
        if block == "prenorm":
            layer = nn.TransformerEncoderLayer(
                dim, n_heads, dim * 2, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(dim)
        else:
            self.blocks.extend(SASRecBlock(dim, n_heads, dropout) for _ in range(n_layers))
            self.norm = nn.LayerNorm(dim, eps=1e-8)
            self.scale = dim**0.5
            for module in self.modules():
                if isinstance(module, nn.Linear | nn.Embedding):
                    nn.init.xavier_normal_(module.weight)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
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
        pad = (seqs == 0)[..., None]
        x = self.drop(x * self.scale + self.pos_emb(positions)[None])
        valid = seqs > 0
        # masks from comparing positions (not tril/eye): the same masks, in operators that
        # onnxruntime runs (it has no boolean EyeLike)
        at = torch.arange(length, device=seqs.device)
        causal = at[:, None] >= at[None, :]
        allowed = causal[None] & (valid[:, None, :] | (at[:, None] == at[None, :])[None])
        blocked = ~allowed.repeat_interleave(self.n_heads, dim=0)
        if self.encoder is not None:
            return self.norm(self.encoder(x, mask=blocked))
        x = x.masked_fill(pad, 0.0)
        for block in self.blocks:
            x = block(x, blocked, pad)
        return self.norm(x)


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
