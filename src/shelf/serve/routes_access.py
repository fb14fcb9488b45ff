"""Access and privacy: API keys (admin), erasure of a user and its progress."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shelf.serve.auth import COOKIE, Unauthorized
from shelf.serve.keys import Scope, mint
from shelf.serve.routes_service import engine_of
from shelf.serve.schemas import ERROR_RESPONSES, Ack, UserDeleted
from shelf.store.access import StoredKey

router = APIRouter(tags=["access"])


class KeyIn(BaseModel):
    # strict: JSON true must not pass as 1 day, as the schema says
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    scope: str = Field(pattern=r"^(search|ingest|admin)$")
    expires_days: float | None = Field(default=None, gt=0, le=36_500)


class KeyOut(BaseModel):
    """A key as listed: never the key itself."""

    name: str
    scope: str
    prefix: str
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None

    @classmethod
    def of(cls, key: StoredKey) -> KeyOut:
        return cls(**{k: v for k, v in key.__dict__.items() if k != "digest"})


class KeyCreated(Ack):
    key: str = Field(description="The new key; shown this once, stored only as a hash.")
    info: KeyOut


class KeyList(Ack):
    keys: list[KeyOut]


class ErasureOut(BaseModel):
    user_key: str = Field(description="The erased user's pseudonym (never the raw id).")
    requested_ms: int
    retrain_by_ms: int
    completed_ms: int | None
    detail: dict[str, object]


class ErasureList(Ack):
    pending: list[ErasureOut]
    completed: list[ErasureOut]


@router.get("/keys", response_model=KeyList, responses=ERROR_RESPONSES)
def list_keys(request: Request) -> KeyList:
    """The API keys: names, scopes, prefixes, expiry and revocation (never the keys)."""
    return KeyList(keys=[KeyOut.of(k) for k in engine_of(request).store.access.api_keys()])


@router.post("/keys", response_model=KeyCreated, responses=ERROR_RESPONSES)
def create_key(request: Request, body: KeyIn) -> KeyCreated:
    """A new key of a scope; its value is in this response only."""
    key, record = mint(
        body.name, Scope.named(body.scope), now_ms=int(time.time() * 1000),
        expires_days=body.expires_days,
    )  # fmt: skip
    engine_of(request).store.access.add_key(record)
    return KeyCreated(key=key, info=KeyOut.of(record))


@router.delete("/keys/{name}", response_model=Ack, responses=ERROR_RESPONSES)
def revoke_key(request: Request, name: Annotated[str, Path(max_length=64)]) -> Ack:
    """Revoke a key: every serving process refuses it within a second."""
    from shelf.errors import NotFoundError

    if not engine_of(request).store.access.revoke_key(name, int(time.time() * 1000)):
        raise NotFoundError("key", name)
    return Ack()


@router.delete(
    "/users/{user_id}", response_model=UserDeleted, responses=ERROR_RESPONSES, tags=["privacy"]
)
def delete_user(request: Request, user_id: Annotated[str, Path(max_length=256)]) -> UserDeleted:
    """Erase a user: their events, live state and counts-based models at once; the trained
    models are rebuilt without them by the erasure deadline (``GET /erasures``)."""
    return UserDeleted(events_deleted=engine_of(request).delete_user(user_id))


@router.get("/erasures", response_model=ErasureList, responses=ERROR_RESPONSES, tags=["privacy"])
def list_erasures(request: Request) -> ErasureList:
    """Erasures in progress (trained models still to rebuild) and completed ones."""
    rows = [ErasureOut(**e.__dict__) for e in engine_of(request).store.access.erasures()]
    return ErasureList(
        pending=[r for r in rows if r.completed_ms is None],
        completed=[r for r in rows if r.completed_ms is not None],
    )


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=200)


@router.post("/session", include_in_schema=False)
def start_session(request: Request, body: SessionIn) -> JSONResponse:
    """Sign in with an API key: an HttpOnly, same-site cookie carries it on page reads (GET)
    from this browser; writes still need the Authorization header."""
    gate = request.app.state.gate
    if gate.keys.check(body.key, int(time.time() * 1000)) is None:
        raise Unauthorized("the API key is unknown, revoked or expired")
    response = JSONResponse({"ok": True})
    response.set_cookie(
        COOKIE, body.key, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", max_age=8 * 3600,
    )  # fmt: skip
    return response
