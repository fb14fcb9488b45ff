"""Recommendations: the Recommender contract, the models (built and loaded by name through the
registry), the leave-one-out holdout, and the online service with its fallback chain and
reasons."""

from shelf.recommend.base import Recommender, Results, Validation
from shelf.recommend.data import SequenceData, encode_sequences
from shelf.recommend.registry import build, known_models, load
from shelf.recommend.service import RecList, Recommendation, RecommendService

__all__ = [
    "RecList",
    "RecommendService",
    "Recommendation",
    "Recommender",
    "Results",
    "SequenceData",
    "Validation",
    "build",
    "encode_sequences",
    "known_models",
    "load",
]
