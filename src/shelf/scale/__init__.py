"""Shelf's jobs on a Ray cluster (the ``ray`` extra): events read and built into sequences
block by block (:mod:`shelf.scale.events`), counts models tallied per shard of users
(:mod:`shelf.scale.tally`), with the same plain functions the single-node path runs
(:mod:`shelf.scale.blocks`, :meth:`shelf.recommend.counts.CountsRecommender.tally`).
Importing this package does not import ray; :mod:`shelf.scale.cluster` does, on loopback.
"""
