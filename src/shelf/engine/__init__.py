"""The running system: :class:`Engine` composes the store, the pseudonymiser and the live
search and recommendation services; :mod:`shelf.engine.tail` keeps one serving process up to
date with what the others wrote."""

from shelf.engine.core import RECS_ARTIFACT, Engine

__all__ = ["RECS_ARTIFACT", "Engine"]
