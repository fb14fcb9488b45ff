"""Privacy: erasure that reaches the store, the served models and every artifact."""

from shelf.privacy.erasure import complete_due, erase_now, versions_holding

__all__ = ["complete_due", "erase_now", "versions_holding"]
