"""Recommendations: the Recommender contract, the models, the fallback chain, explanations."""
