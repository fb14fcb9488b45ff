"""Shopper tokens: proof, minted by the shop's own server for its logged-in shopper, that a
request speaks for that shopper. With one, a search-scope request sees the reasons that name
the shopper's own history; with a bare user id it sees none (anyone can type an id).

A token is ``v1.<expires, unix seconds>.<base64url HMAC-SHA256(secret, "v1.<user id>.<expires>")>``
with the secret shared with shelf as ``SHELF_SHOPPER_TOKEN_SECRET``; docs/security.md shows how
a shop mints one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

SHOPPER_TOKEN_HEADER = "X-Shopper-Token"
VERSION = "v1"


def _signature(secret: str, user_id: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"{VERSION}.{user_id}.{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def mint_shopper_token(
    secret: str, user_id: str, *, ttl_s: int = 3600, now: float | None = None
) -> str:
    """A token for ``user_id`` valid for ``ttl_s`` seconds (what a shop's server does)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{VERSION}.{expires}.{_signature(secret, user_id, expires)}"


def shopper_token_valid(
    secret: str | None, user_id: str, token: str | None, *, now: float | None = None
) -> bool:
    """Whether ``token`` was minted with ``secret`` for ``user_id`` and has not expired."""
    if not secret or not token:
        return False
    version, _, rest = token.partition(".")
    expires_text, _, signature = rest.partition(".")
    if version != VERSION or not expires_text.isdigit() or not signature:
        return False
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(secret, user_id, expires))
