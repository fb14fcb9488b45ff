"""``GET /search``: products for a query, with filters, facets, sorting and pagination.

The service is ``request.app.state.engine.search`` (a :class:`shelf.search.SearchService`).
Errors go through the app's JSON error envelope (a shelf ``ValidationError`` -> 422). The
route is ``async``: repeats come from the response cache on the event loop, new queries are
ranked on a thread (see :mod:`shelf.serve.live` for the other compute routes).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shelf.catalog import split_category_path
from shelf.catalog.limits import MAX_ID_LENGTH, MAX_QUERY_LENGTH
from shelf.errors import ServiceUnavailable, ValidationError
from shelf.search.filters import MAX_FILTER_VALUES, SortOrder
from shelf.search.schemas import MAX_PAGE_SIZE, SearchRequest, SearchResponse
from shelf.search.service import SearchService
from shelf.serve.live import caught_up
from shelf.serve.schemas import ERROR_RESPONSES

router = APIRouter()


def _service(request: Request) -> SearchService:
    engine = getattr(request.app.state, "engine", None)
    service = getattr(engine, "search", None)
    if service is None:
        raise ServiceUnavailable("search is not available: the engine has no search index")
    return service


MAX_CATEGORY_PARAMETER = 2_048  # ten levels of 200 characters and their separators
# A field of SearchFilters, as the HTTP parameter that sets it
_PARAMETERS = {
    "filters.brands": "brand",
    "filters.attributes": "attr",
    "filters.category": "category",
}


def _attributes(values: list[str]) -> dict[str, list[str]]:
    if len(values) > MAX_FILTER_VALUES:
        raise ValidationError(
            f"at most {MAX_FILTER_VALUES} attribute filters, got {len(values)}", field="attr"
        )
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, wanted = value.partition(":")
        if not sep or not name.strip() or not wanted.strip():
            raise ValidationError(f"{value!r} is not name:value", field="attr")
        out.setdefault(name.strip(), []).append(wanted.strip())
    return out


def _checked(**fields: object) -> SearchRequest:
    """The request, or a ValidationError naming the HTTP parameter (``brand``, not
    ``filters.brands``)."""
    try:
        return SearchRequest.checked(**fields)
    except ValidationError as exc:
        field = _PARAMETERS.get(exc.field or "", exc.field)
        raise ValidationError(exc.reason, field=field) from None


@router.get("/search", response_model=SearchResponse, responses=ERROR_RESPONSES, tags=["search"])
async def search(
    request: Request,
    q: Annotated[
        str, Query(max_length=MAX_QUERY_LENGTH, description="The query; empty to browse.")
    ] = "",
    category: Annotated[
        str | None,
        Query(max_length=MAX_CATEGORY_PARAMETER, description="Category path prefix, 'A > B'."),
    ] = None,
    brand: Annotated[
        list[str] | None, Query(description=f"Any of these brands (at most {MAX_FILTER_VALUES}).")
    ] = None,
    price_min: Annotated[float | None, Query(ge=0)] = None,
    price_max: Annotated[float | None, Query(ge=0)] = None,
    available: Annotated[bool | None, Query(description="Only (un)available items.")] = None,
    attr: Annotated[
        list[str] | None,
        Query(
            description="Attribute filter name:value (repeatable, at most "
            f"{MAX_FILTER_VALUES} times)."
        ),
    ] = None,
    sort: SortOrder = SortOrder.RELEVANCE,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    user_id: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    understand: Annotated[
        bool, Query(description="Read price bounds, brands and attributes from the query.")
    ] = True,
) -> Response:
    """Search the catalog. The response says what was understood from the query; explicit
    filters override it and ``understand=false`` turns it off."""
    started = time.perf_counter()
    asked = _checked(
        query=q,
        filters={
            "category": split_category_path(category),
            "brands": brand or [],
            "price_min": price_min,
            "price_max": price_max,
            "attributes": _attributes([a for a in attr or [] if a.strip()]),
            "available": available,
        },
        sort=sort,
        page=page,
        page_size=page_size,
        user_id=user_id,
        understand=understand,
    )
    service = _service(request)
    engine = await caught_up(request)
    if user_id:
        engine.live_user(user_id)  # other workers' events, before personalising
    # A repeat is answered here, on the event loop. A new query is ranked on a thread, so
    # that the worker's repeats are not queued behind it (they take no lock, and ranking
    # releases the GIL in its numeric parts); uncached answers still run one at a time.
    found = service.cached(asked, started)
    if found is None:
        found = await run_in_threadpool(service.answer, asked, started)
    # Serialised once, here: returned as a model, FastAPI would dump, re-validate and dump it
    # again (the schema stays documented by ``response_model``).
    return Response(
        content=found.model_dump_json(),
        media_type="application/json",
        headers={"X-Cache": "hit" if found.cached else "miss"},
    )
