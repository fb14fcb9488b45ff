"""The counts models fitted on a cluster: each task tallies a shard of users with the
model's own :meth:`~shelf.recommend.counts.CountsRecommender.tally`, the driver sums the
shards (:func:`~shelf.recommend.counts.sum_counts`) and the model adopts the sum
(:meth:`~shelf.recommend.counts.CountsRecommender.fit_tallied`). Integer counts add up in any
order, so the fitted model equals the single-node fit exactly."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from shelf.recommend.counts import CountsRecommender, UserRecords, sum_counts
from shelf.recommend.data import SequenceData
from shelf.scale.cluster import ray, require_ray
from shelf.scale.events import TASK_CPUS

M = TypeVar("M", bound=CountsRecommender)


@ray.remote(num_cpus=TASK_CPUS)
def _tally(model: CountsRecommender, records: UserRecords, n_items: int) -> Any:
    return model.tally(records, n_items)


def fit_counts(model: M, data: SequenceData, n_shards: int | None = None) -> M:
    """``model.fit(data)``, with the counting spread over ``n_shards`` shards of users
    (default: two per CPU of the cluster)."""
    require_ray()
    shards = n_shards or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    records = model.records_for(data)
    users = np.array_split(np.arange(data.n_users), min(shards, max(1, data.n_users)))
    params: Any = ray.put(type(model)(**model.get_params()))  # unfitted: only the settings travel
    parts = ray.get([_tally.remote(params, records.take(u), data.n_items) for u in users])
    return model.fit_tallied(data, sum_counts(parts))
