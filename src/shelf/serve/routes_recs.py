"""Recommendation routes: for-you, similar, bought-together and trending, each with reasons.

The service is ``request.app.state.engine.recs`` (a
:class:`shelf.recommend.service.RecommendService`). Every list names the step of the fallback
chain (or the list kind) that produced it, and every item carries a readable reason. The
routes are ``async``: see :mod:`shelf.serve.live` for why and what stays off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from shelf.errors import ServiceUnavailable
from shelf.recommend.service import RecList, RecommendService
from shelf.serve.auth import Caller, Gate
from shelf.serve.live import caught_up
from shelf.serve.schemas import ERROR_RESPONSES
from shelf.serve.shoppers import SHOPPER_TOKEN_HEADER

router = APIRouter(tags=["recommendations"])


class RecItemOut(BaseModel):
    item_id: str
    title: str | None = None
    score: float
    reason: str = Field(description="Why this item, in words a shopper can read.")


class RecListOut(BaseModel):
    source: str = Field(
        description="What answered: personal, session, trending, popular (the fallback chain), "
        "similar or bought_together."
    )
    model_version: str | None = None
    items: list[RecItemOut]


def service_of(request: Request) -> RecommendService:
    engine = getattr(request.app.state, "engine", None)
    service = getattr(engine, "recs", None)
    if service is None:
        raise ServiceUnavailable(
            "recommendations are not available: no trained model (run shelf train)"
        )
    return service


def _out(service: RecommendService, answer: RecList) -> RecListOut:
    return RecListOut(
        source=answer.source,
        model_version=service.version,
        items=[
            RecItemOut(
                item_id=r.item_id,
                title=service.titles.get(r.item_id),
                score=r.score,
                reason=r.reason,
            )
            for r in answer.items
        ],
    )


def _respond(service: RecommendService, answer: RecList) -> Response:
    """The answer serialised once (returned as a model, FastAPI would dump, re-validate and
    dump it again; ``response_model`` keeps the schema documented)."""
    return Response(content=_out(service, answer).model_dump_json(), media_type="application/json")


@router.get(
    "/users/{user_id}/recommendations", response_model=RecListOut, responses=ERROR_RESPONSES
)
async def user_recommendations(
    request: Request,
    user_id: Annotated[str, Path(max_length=256)],
    n: Annotated[int, Query(ge=1, le=100)] = 10,
    exclude: Annotated[
        str, Query(max_length=10_000, description="Comma-separated item ids to leave out.")
    ] = "",
    category: Annotated[str | None, Query(max_length=256)] = None,
    include_bought: bool = False,
) -> Response:
    """Personal recommendations (already bought items excluded unless asked). Reasons that
    name the shopper's own history need an admin key or the shopper's token
    (``X-Shopper-Token``); with a bare id they say only that the item was picked for them."""
    service = service_of(request)
    engine = await caught_up(request)
    # The models know users by their pseudonym, as the store does.
    answer = service.for_you(
        engine.live_user(user_id),  # the other workers' events applied
        n,
        exclude=[e for e in exclude.split(",") if e],
        category=category,
        include_bought=include_bought,
    )
    gate: Gate | None = getattr(request.app.state, "gate", None)
    caller: Caller | None = getattr(request.state, "caller", None)
    token = request.headers.get(SHOPPER_TOKEN_HEADER)
    if gate is None or caller is None or not gate.speaks_for(caller, user_id, token):
        answer = answer.without_history()  # a bare id: nothing that names their history
    return _respond(service, answer)


@router.get("/items/{item_id}/similar", response_model=RecListOut, responses=ERROR_RESPONSES)
async def similar_items(
    request: Request,
    item_id: Annotated[str, Path(max_length=256)],
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Items similar to this one."""
    service = service_of(request)
    await caught_up(request)
    return _respond(service, service.similar(item_id, n))


@router.get(
    "/items/{item_id}/bought-together", response_model=RecListOut, responses=ERROR_RESPONSES
)
async def bought_together(
    request: Request,
    item_id: Annotated[str, Path(max_length=256)],
    n: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Items frequently bought together with this one (co-purchase lift)."""
    service = service_of(request)
    return _respond(service, service.bought_together(item_id, n))


@router.get("/trending", response_model=RecListOut, responses=ERROR_RESPONSES)
async def trending(
    request: Request,
    n: Annotated[int, Query(ge=1, le=100)] = 10,
    category: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Trending items (time-decayed popularity), optionally within a category."""
    service = service_of(request)
    return _respond(service, service.trending(n, category=category))
