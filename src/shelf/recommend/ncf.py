"""The seed's deep recommender, kept as a baseline: NCF's MLP (He et al., WWW 2017).

User and item embeddings are concatenated and passed through an MLP to one logit, trained with
binary cross-entropy on observed pairs against ``negatives`` uniformly sampled items, with Adam.
Unknown users get the mean user embedding. Scoring the whole catalog runs the MLP on every
(user, item) pair, which is why this model is slow to rank and weak under full ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from shelf.recommend.base import Recommender, Validation
from shelf.recommend.data import SequenceData


class NCFNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        nn.init.normal_(self.users.weight, std=0.05)
        nn.init.normal_(self.items.weight, std=0.05)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, user_vecs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([user_vecs, self.items(items)], dim=-1)).squeeze(-1)


class NCF(Recommender):
    """Embedding + MLP, BCE with sampled negatives, Adam."""

    name = "ncf"

    def __init__(
        self,
        *,
        dim: int = 32,
        hidden: int = 32,
        negatives: int = 4,
        lr: float = 1e-3,
        epochs: int = 5,
        batch_size: int = 1024,
        threads: int = 1,
        random_state: int = 42,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.negatives = negatives
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.threads = threads
        self.random_state = random_state

    def _fit(self, data: SequenceData, validation: Validation | None) -> None:
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        self.net_ = NCFNet(max(data.n_users, 1), data.n_items, self.dim, self.hidden)
        optim = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        users = np.repeat(np.arange(data.n_users), [len(s) for s in data.sequences])
        items = np.concatenate(data.sequences) if data.sequences else np.zeros(0, np.int64)
        k = self.negatives
        for _ in range(self.epochs):
            neg = rng.integers(0, data.n_items, size=len(items) * k)
            u = torch.from_numpy(np.concatenate([users, np.repeat(users, k)]))
            i = torch.from_numpy(np.concatenate([items, neg]))
            y = torch.cat([torch.ones(len(items)), torch.zeros(len(neg))])
            order = torch.from_numpy(rng.permutation(len(y)))
            for lo in range(0, len(order), self.batch_size):
                idx = order[lo : lo + self.batch_size]
                logits = self.net_(self.net_.users(u[idx]), i[idx])
                loss = nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
                optim.zero_grad()
                loss.backward()
                optim.step()
        self.net_.eval()

    def _forget(self, users: np.ndarray) -> None:
        """Zero the users' embeddings; the MLP and item embeddings keep what they learned from
        them until a retrain (``forgets_exactly`` is False)."""
        with torch.no_grad():
            self.net_.users.weight[torch.from_numpy(users)] = 0.0

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        self._check_fitted()
        n = self.n_items
        with torch.inference_mode():
            table = self.net_.users.weight
            mean = table.mean(dim=0)
            vecs = torch.stack([table[u] if u >= 0 else mean for u in users.tolist()])
            all_items = torch.arange(n)
            out = np.empty((len(users), n), dtype=np.float32)
            for b in range(len(users)):
                out[b] = self.net_(vecs[b].expand(n, -1), all_items).numpy()
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.net_.state_dict().items()}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        n_users = max(len(self.users_), 1)
        self.net_ = NCFNet(n_users, len(self.items_), self.dim, self.hidden)
        self.net_.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        self.net_.eval()
