"""The online recommendation service: loaded models + live events -> lists with reasons.

For-you walks a declared fallback chain and names the step that answered::

    personal  the sequential model on the user's history (training history + live events)
    session   the same model on this session's live events, for a user unknown at training
    trending  time-decayed popularity (per category when filtered)
    popular   all-time popularity

Items deleted from the catalog are left out of every list (``exclude_items``) until they are
posted again. Every item carries a reason derived from the models: the history item with the
strongest co-occurrence (else embedding) link to it ("because you viewed X"), co-purchase
lift ("often bought with X"), the trending score ("trending in Y") or, for an item without
interactions, the text-nearest history item ("new, similar to X").

Erasure (:meth:`RecommendService.erase_user`) reaches the models: the user's live events and
purchases go, and every model forgets the user (:meth:`Recommender.forget_users`); the counts
models (co-occurrence, trending) exactly, the others until the retrain the answer asks for.
Live state (:mod:`shelf.recommend.live`) is bounded: the least recently active shoppers go
first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from shelf.catalog import Item, recommender_text
from shelf.errors import NotFoundError
from shelf.recommend.base import Recommender
from shelf.recommend.cooccur import ItemCooccurrence
from shelf.recommend.live import LiveState
from shelf.recommend.popularity import Trending
from shelf.recommend.reasons import personal_reasons
from shelf.recommend.registry import load
from shelf.text.encoder import Encoder, load_encoder

Source = Literal["personal", "session", "trending", "popular", "similar", "bought_together"]
FALLBACK_CHAIN: tuple[Source, ...] = ("personal", "session", "trending", "popular")
PICKED = "picked for you"  # the reason shown when the caller may not see the history


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class RecList:
    """One answer: the step of the chain that produced it and the items with reasons."""

    source: Source
    items: list[Recommendation]

    def without_history(self) -> RecList:
        """The same list with reasons that name no item of the shopper's history."""
        if self.source not in ("personal", "session"):
            return self
        return RecList(self.source, [replace(r, reason=PICKED) for r in self.items])


class RecommendService:
    """Answers for-you, similar, bought-together and trending from fitted models.

    ``personal`` scores histories (any :class:`Recommender`; sequential ones react to new
    events), ``cooc`` gives similar / bought-together and reasons, ``trending`` the fallback.
    ``titles`` and ``categories`` (item id -> title / category path) make reasons readable and
    enable the category filter. ``bought`` holds each user's purchased items from training.
    """

    def __init__(
        self,
        personal: Recommender,
        cooc: ItemCooccurrence,
        trending: Trending,
        *,
        titles: Mapping[str, str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
        bought: Mapping[str, Sequence[str]] | None = None,
        version: str | None = None,
    ) -> None:
        self.personal = personal
        self.cooc = cooc
        self.trending_model = trending
        self.titles = dict(titles or {})
        self.categories = {k: list(v) for k, v in (categories or {}).items()}
        self.bought = {k: set(v) for k, v in (bought or {}).items()}
        self.version = version
        self.live = LiveState()
        self._excluded: frozenset[str] = frozenset()  # deleted from the catalog; swapped whole
        self._lock = threading.Lock()
        self._encoder: Encoder | None = None  # made on the first new item

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def from_artifact(
        cls,
        path: str | Path,
        *,
        titles: Mapping[str, str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> RecommendService:
        """Load a version directory written by ``shelf train`` (personal/, cooc/, trending/)."""
        import json

        root = Path(path)
        personal = load(root / "personal")
        cooc = load(root / "cooc")
        trending = load(root / "trending")
        if not isinstance(cooc, ItemCooccurrence) or not isinstance(trending, Trending):
            from shelf.errors import ArtifactError

            raise ArtifactError(f"{root}: cooc/ or trending/ holds the wrong model type")
        bought_path = root / "bought.json"
        bought = json.loads(bought_path.read_text()) if bought_path.exists() else {}
        return cls(
            personal,
            cooc,
            trending,
            titles=titles,
            categories=categories,
            bought=bought,
            version=root.name,
        )

    # ---- live events ---------------------------------------------------------------------
    def warm_up(self) -> None:
        """Answer one made-up one-item history, so that what the models build on first use
        (SASRec's onnxruntime session) is built now, not in a shopper's request."""
        items = self.personal.items_
        if items:
            self.personal.recommend_histories([[items[0]]], 1)

    def record_event(self, user_id: str, item_id: str, event_type: str = "view") -> None:
        """Add a live event: it changes the user's next for-you answer (no retraining)."""
        self.live.record(user_id, item_id, event_type)

    def carry_live_state(self, previous: RecommendService) -> None:
        """Take over the live events and deletions of the service this one replaces (hot
        swap), so events that arrived after training keep shaping the answers."""
        self.live.take_over(previous.live)
        with self._lock:
            self._excluded |= previous._excluded

    def exclude_items(self, item_ids: Iterable[str]) -> None:
        """Leave these items (deleted from the catalog) out of every list; the models keep
        them until retrained, and retrained on the stored events they would learn them again,
        so the engine excludes what the catalog lacks whenever it loads a model."""
        with self._lock:
            self._excluded = self._excluded | set(item_ids)

    def restore_items(self, item_ids: Iterable[str]) -> None:
        """Recommend these items again (posted to the catalog again)."""
        with self._lock:
            self._excluded = self._excluded - set(item_ids)

    @property
    def excluded(self) -> frozenset[str]:
        return self._excluded

    def has_live(self, user_id: str) -> bool:
        """Whether live events of the user are held in memory."""
        return user_id in self.live

    def erase_user(self, user_key: str) -> bool:
        """Erase a user (GDPR Art. 17) from what this service holds: live events, purchases,
        and what the personal, co-occurrence and trending models hold of them (their stored
        history, and what each model can subtract of what it learned). Returns whether a
        retrain is still needed: a model that knew the user does not forget exactly."""
        with self._lock:
            self.live.forget(user_key)
            self.bought.pop(user_key, None)
            retrain = False
            models: list[Recommender] = []
            for model in (self.personal, self.cooc, self.trending_model):
                if all(model is not m for m in models):
                    models.append(model)
            for model in models:
                if model.forget_users([user_key]) and not model.forgets_exactly:
                    retrain = True
            return retrain

    def forget_user(self, user_id: str) -> bool:
        """The user is gone from the store: erase them here too (see :meth:`erase_user`)."""
        return self.erase_user(user_id)

    def add_items(
        self,
        item_ids: Sequence[str],
        text: np.ndarray,
        *,
        titles: Mapping[str, str] | None = None,
        categories: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """New catalog items, recommendable at once from their text embeddings (one row each,
        from the same encoder as training); needs a text-aware personal model."""
        if not self.personal.can_add_items:
            raise ValueError(
                f"the {self.personal.name!r} model cannot add items without retraining"
            )
        with self._lock:
            self.personal.add_items(item_ids, text)
            if self.cooc is not self.personal:
                self.cooc.add_items(item_ids)
            self.titles.update(titles or {})
            self.categories.update({k: list(v) for k, v in (categories or {}).items()})

    def add_catalog_items(self, items: Sequence[Item]) -> int:
        """Make new catalog items recommendable at once from their text, when the personal
        model can (cold start; id-only models learn them at retraining); returns how many."""
        self.restore_items(i.item_id for i in items if i.item_id in self._excluded)
        if not self.personal.can_add_items:
            return 0
        fresh = {i.item_id: i for i in items if i.item_id not in self.personal.item_index_}
        if not fresh:
            return 0
        if self._encoder is None:
            self._encoder = load_encoder("minilm")  # the shared embedding cache
        vectors = self._encoder.encode([recommender_text(i.model_dump()) for i in fresh.values()])
        self.add_items(
            list(fresh),
            vectors,
            titles={k: i.title for k, i in fresh.items()},
            categories={k: i.category for k, i in fresh.items()},
        )
        return len(fresh)

    def history(self, user_id: str) -> list[str]:
        """The user's known history: training history, then live events."""
        stored: list[str] = []
        index = self.personal.user_index_.get(user_id)
        if index is not None:
            stored = [self.personal.items_[i] for i in self.personal.histories_[index]]
        return stored + self.live.history(user_id)

    def bought_items(self, user_id: str) -> set[str]:
        return self.bought.get(user_id, set()) | self.live.bought(user_id)

    # ---- answers -------------------------------------------------------------------------
    def for_you(
        self,
        user_id: str,
        n: int = 10,
        *,
        exclude: Sequence[str] = (),
        category: str | None = None,
        include_bought: bool = False,
    ) -> RecList:
        """Personal recommendations, falling back along :data:`FALLBACK_CHAIN`."""
        history = self.history(user_id)
        known = user_id in self.personal.user_index_
        banned = set(exclude) | self._excluded
        if not include_bought:
            banned |= self.bought_items(user_id)
        candidates = self._in_category(category)
        if history:
            source: Source = "personal" if known else "session"
            results = self.personal.recommend_histories(
                [history],
                n,
                user_ids=[user_id if known else None],
                exclude=[sorted(banned)],
                candidates=candidates,
                exclude_history=True,
            )
            found = [
                (str(i), float(s))
                for i, s in zip(results.ids[0], results.scores[0], strict=True)
                if i and np.isfinite(s)
            ]
            reasons = personal_reasons(
                self.personal, self.cooc, [i for i, _ in found], history, self._title
            )
            items = [Recommendation(i, s, r) for (i, s), r in zip(found, reasons, strict=True)]
            if items:
                return RecList(source, items)
        seen = set(history) | banned
        trend = self.trending(n, category=category, exclude=seen)
        if trend.items:
            return trend
        return self._popular(n, seen, candidates)

    def similar(self, item_id: str, n: int = 10) -> RecList:
        """Items like ``item_id``: co-occurrence neighbours, then the model's item embeddings."""
        self._require(item_id)
        gone = self._excluded
        pairs = _shown(self.cooc.neighbours([item_id], n + len(gone))[0], n, gone)
        name = self._title(item_id)
        items = [Recommendation(i, s, f"often viewed with {name}") for i, s in pairs]
        if len(items) < n:
            have = {r.item_id for r in items} | {item_id} | gone
            more = self.personal.similar_items([item_id], n + len(have))
            for i, s in zip(more.ids[0], more.scores[0], strict=True):
                if i and i not in have and len(items) < n:
                    items.append(Recommendation(str(i), float(s), f"similar to {name}"))
        return RecList("similar", items)

    def bought_together(self, item_id: str, n: int = 10) -> RecList:
        """Items most often bought with ``item_id`` (co-purchase lift)."""
        self._require(item_id)
        name = self._title(item_id)
        gone = self._excluded
        pairs = _shown(self.cooc.bought_together([item_id], n + len(gone))[0], n, gone)
        return RecList(
            "bought_together", [Recommendation(i, s, f"often bought with {name}") for i, s in pairs]
        )

    def trending(
        self, n: int = 10, *, category: str | None = None, exclude: set[str] | None = None
    ) -> RecList:
        """Time-decayed trending items, optionally within a category."""
        skip = (exclude or set()) | self._excluded
        allowed = self._in_category(category)
        allowed_set = set(allowed) if allowed is not None else None
        items = []
        for item, score in self.trending_model.trending(n + len(skip) + 50 if skip else n * 4):
            if item in skip or score <= 0 or (allowed_set is not None and item not in allowed_set):
                continue
            where = category or self._category(item)
            reason = f"trending in {where}" if where else "trending now"
            items.append(Recommendation(item, score, reason))
            if len(items) == n:
                break
        return RecList("trending", items)

    # ---- helpers -------------------------------------------------------------------------
    def _popular(self, n: int, seen: set[str], candidates: list[str] | None) -> RecList:
        counts = self.personal.item_counts_.astype(np.float64)
        order = np.argsort(-counts, kind="stable")
        allowed = set(candidates) if candidates is not None else None
        items = []
        for index in order:
            item = self.personal.items_[index]
            if item in seen or (allowed is not None and item not in allowed):
                continue
            items.append(Recommendation(item, float(counts[index]), "popular with shoppers"))
            if len(items) == n:
                break
        return RecList("popular", items)

    def _in_category(self, category: str | None) -> list[str] | None:
        if not category:
            return None
        want = category.lower()
        return [
            item
            for item, path in self.categories.items()
            if any(c.lower() == want for c in path) or " > ".join(path).lower().startswith(want)
        ]

    def _category(self, item: str) -> str | None:
        path = self.categories.get(item)
        return path[-1] if path else None

    def _title(self, item: str) -> str:
        return self.titles.get(item) or item

    def _require(self, item_id: str) -> None:
        if item_id not in self.personal.item_index_ or item_id in self._excluded:
            raise NotFoundError("item", item_id)


def _shown(pairs: list[tuple[str, float]], n: int, gone: frozenset[str]) -> list[tuple[str, float]]:
    """The first ``n`` of ``pairs`` not ``gone``."""
    return [(i, s) for i, s in pairs if i not in gone][:n]
