"""Re-rankers over :mod:`shelf.search.features`: a hand-set linear blend and LambdaMART.

:class:`LinearRanker` is the untrained default for a shop without judgements: normalised lexical
score, dense cosine and coverage signals with weights set by hand (not fitted to any data).
:class:`LambdaMARTRanker` is LightGBM's LambdaMART (Burges, "From RankNet to LambdaRank to
LambdaMART", 2010) trained on graded judgements, with linear label gains so that it optimises
the same NDCG the benchmark reports. Both save to plain files (LightGBM's text model + JSON).

For serving, :meth:`LambdaMARTRanker.compile` turns the trees into native code with lleaves
(Böhm et al., "lleaves: a compiler for LightGBM", 2021, built on LLVM): the same scores, several
times faster than LightGBM's own predictor (docs/design.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shelf.artifacts import keep_newest
from shelf.errors import ArtifactError, NotFittedError
from shelf.search.features import FEATURE_NAMES

DEFAULT_LINEAR_WEIGHTS: dict[str, float] = {
    "lex_score_rel": 1.0,
    "dense_cos": 1.0,
    "idf_coverage": 0.5,
    "all_terms": 0.2,
    "bigram_frac": 0.3,
    "last_term": 0.2,
    "token_set_ratio": 0.3,
    "brand_match": 0.5,
    "attribute_match": 0.3,
    "log_popularity": 0.05,
}
logger = logging.getLogger(__name__)
KEPT_COMPILED = 8  # compiled rankers kept in the model cache
# lleaves' "small" LLVM code model (32-bit offsets) is faster with identical scores
# (docs/design.md) but cannot address gigabytes of code: larger forests keep the large one.
SMALL_CODE_MODEL_MAX_LEAVES = 1_000_000
# Judgements are mapped to integer labels in steps of 1/3 from the lowest grade.
LABEL_STEPS = 3


class Ranker(Protocol):
    name: str

    def predict(self, features: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...


class LinearRanker:
    """``score = sum_f w_f * feature_f`` with hand-set weights (see the module docstring)."""

    name = "linear"

    def __init__(self, weights: dict[str, float] | None = None) -> None:
        self.weights = dict(DEFAULT_LINEAR_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        self._vector = np.array([self.weights.get(f, 0.0) for f in FEATURE_NAMES], np.float32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return features @ self._vector

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        meta = {"kind": self.name, "weights": self.weights, "features": list(FEATURE_NAMES)}
        (path / "ranker.json").write_text(json.dumps(meta, indent=2))


def relevance_labels(relevance: np.ndarray, low: float = 1.0) -> np.ndarray:
    """Graded relevance (``low`` = irrelevant) as integer labels 0, 1, 2, ... in 1/3 steps."""
    return np.clip(np.rint((relevance - low) * LABEL_STEPS), 0, None).astype(np.int32)


class LambdaMARTRanker:
    """LightGBM LambdaMART; labels from :func:`relevance_labels`, linear gains."""

    name = "lambdamart"

    def __init__(
        self,
        *,
        # 400 trees at 0.04 rather than 200 at 0.08: higher cross-validated NDCG@10 for
        # ~0.5 ms more per query once compiled (docs/design.md)
        n_estimators: int = 400,
        learning_rate: float = 0.04,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.booster_: object | None = None
        self.compiled_: Any = None  # a lleaves model of booster_, once compile() ran

    def fit(
        self, features: np.ndarray, labels: np.ndarray, group_sizes: np.ndarray
    ) -> LambdaMARTRanker:
        """Fit on rows grouped by query (``group_sizes`` rows each, in order)."""
        import lightgbm as lgb

        if features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {features.shape[1]}")
        if int(group_sizes.sum()) != len(features) or len(labels) != len(features):
            raise ValueError("group sizes and labels must cover every row")
        max_label = max(int(labels.max()) if len(labels) else 0, 2 * LABEL_STEPS)
        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "ndcg_eval_at": [10],
            "label_gain": [i / LABEL_STEPS for i in range(max_label + 1)],
            "lambdarank_truncation_level": 20,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.7,
            "bagging_freq": 1,
            "num_threads": self.n_jobs,
            "seed": self.random_state,
            "deterministic": True,
            "verbosity": -1,
        }
        data = lgb.Dataset(
            features, label=labels, group=group_sizes, feature_name=list(FEATURE_NAMES)
        )
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        self.compiled_ = None
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker")
        if self.compiled_ is not None:
            return np.asarray(self.compiled_.predict(features, n_jobs=1), dtype=np.float32)
        return np.asarray(self.booster_.predict(features, num_threads=1), dtype=np.float32)  # type: ignore[attr-defined]

    def compile(self, cache_dir: Path | None = None) -> bool:
        """Score with the trees compiled to native code by lleaves from now on.

        Compiling takes seconds, so the compiled object is cached under
        ``cache_dir`` (default: the model cache, ``$SHELF_MODEL_CACHE``) keyed by the model
        text, the lleaves and llvmlite versions and the host CPU; a second use of the same
        model only loads it, and only the newest KEPT_COMPILED models are kept. Returns
        False, with a logged warning, when lleaves is missing or compiling fails: LightGBM
        keeps scoring (slower, the same scores).
        """
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker")
        try:
            from importlib import metadata

            import lleaves
            from llvmlite import __version__ as llvmlite_version
            from llvmlite import binding as llvm
        except ImportError as exc:
            logger.warning("lleaves is not installed (%s); LightGBM scores the ranker", exc)
            return False
        if cache_dir is None:
            from shelf.text.encoder import default_model_dir

            cache_dir = default_model_dir()
        model_text: str = self.booster_.model_to_string()  # type: ignore[attr-defined]
        host = f"{llvm.get_host_cpu_name()}:{llvm.get_host_cpu_features().flatten()}"
        versions = f"lleaves {metadata.version('lleaves')}, llvmlite {llvmlite_version}"
        leaves = sum(
            int(line.partition("=")[2])
            for line in model_text.splitlines()
            if line.startswith("num_leaves=")
        )
        code_model = "small" if leaves <= SMALL_CODE_MODEL_MAX_LEAVES else "large"
        # in the key although the model text decides it: libraries cached before the code model
        # was chosen (all "large") are not picked up as if they were compiled with it
        key = hashlib.sha256(f"{model_text}\n{versions}\n{host}\n{code_model}".encode()).hexdigest()
        stem = cache_dir / f"lambdamart-{key[:24]}"
        library, model_file = stem.with_suffix(".so"), stem.with_suffix(".txt")
        private = f".{os.getpid()}-{id(self)}.tmp"
        tmp_text = stem.with_suffix(private + ".txt")
        tmp_library = stem.with_suffix(private + ".so")
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            if not model_file.exists():
                tmp_text.write_text(model_text)
                os.replace(tmp_text, model_file)
            compiled = lleaves.Model(model_file=str(model_file))
            if library.exists():
                compiled.compile(cache=str(library), fcodemodel=code_model)
                with contextlib.suppress(OSError):
                    os.utime(library)  # recently used: kept by the pruning below
            else:  # compile privately, then rename: workers starting together never read half
                compiled.compile(cache=str(tmp_library), fcodemodel=code_model)
                os.replace(tmp_library, library)
        except Exception as exc:  # a failed optimisation must not stop serving
            logger.warning("compiling the ranker failed (%s); LightGBM scores it", exc)
            return False
        finally:
            tmp_text.unlink(missing_ok=True)
            tmp_library.unlink(missing_ok=True)
        self.compiled_ = compiled
        for pruned in keep_newest(cache_dir, "lambdamart-*.so", KEPT_COMPILED):
            pruned.with_suffix(".txt").unlink(missing_ok=True)
        return True

    def feature_importance(self) -> dict[str, float]:
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker")
        gains = self.booster_.feature_importance(importance_type="gain")  # type: ignore[attr-defined]
        return {f: float(g) for f, g in zip(FEATURE_NAMES, gains, strict=True)}

    def save(self, path: Path) -> None:
        if self.booster_ is None:
            raise NotFittedError("LambdaMARTRanker")
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / "lambdamart.txt"))  # type: ignore[attr-defined]
        meta = {"kind": self.name, "features": list(FEATURE_NAMES)}
        (path / "ranker.json").write_text(json.dumps(meta, indent=2))


def load_ranker(path: Path, *, compiled: bool = False) -> LinearRanker | LambdaMARTRanker:
    """A ranker saved by ``save``; refuses one built for other features. ``compiled``
    compiles a LambdaMART model to native code for serving (:meth:`LambdaMARTRanker.compile`)."""
    meta_path = path / "ranker.json"
    if not meta_path.exists():
        raise ArtifactError(f"{path}: no ranker.json")
    meta = json.loads(meta_path.read_text())
    if meta.get("features") != list(FEATURE_NAMES):
        raise ArtifactError(f"{path}: ranker was trained on other features")
    if meta["kind"] == "linear":
        return LinearRanker(meta["weights"])
    if meta["kind"] == "lambdamart":
        import lightgbm as lgb

        ranker = LambdaMARTRanker()
        ranker.booster_ = lgb.Booster(model_file=str(path / "lambdamart.txt"))
        if compiled:
            ranker.compile()
        return ranker
    raise ArtifactError(f"{path}: unknown ranker kind {meta['kind']!r}")
