"""Where training runs: ``local`` (this process) or ``ray`` (the open Ray session, see
:mod:`shelf.scale`); both fit the same models with the same result."""

from __future__ import annotations

from typing import Literal, TypeVar

from shelf.recommend.counts import CountsRecommender
from shelf.recommend.data import SequenceData

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")
M = TypeVar("M", bound=CountsRecommender)


def fit_counts(model: M, data: SequenceData, engine: Engine) -> M:
    """Fit a counts model here, or tallied shard by shard across the Ray cluster."""
    if engine == "ray":
        from shelf.scale.tally import fit_counts as fit_on_ray

        return fit_on_ray(model, data)
    return model.fit(data)
