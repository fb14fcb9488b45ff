"""The offline stage: read the store (or benchmark files), fit the models, score them on a
holdout, and write versioned artifacts for the engine to serve.

* :mod:`shelf.train.recs`: the recommendation bundle (``shelf train``);
* :mod:`shelf.train.search`: the search ranker and the tuned query encoder
  (``shelf search-train``, and each fold of ``shelf eval search``).
"""
