"""One JSON error envelope for every error the service returns.

``{"ok": false, "error": {"status": 422, "type": "validation_error", "message": "...",
"details": [{"row": 3, "field": "price", "reason": "..."}]}}``

A store failure answers 503 with a fixed message: what the database said (its statement and
parameters, perhaps another client's data) goes to the server log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelf.errors import ShelfError, StoreError, ValidationError, pydantic_problem

log = logging.getLogger("shelf.serve")
STORE_FAILED = "the store failed; see the server log"

_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
          422: "validation_error", 429: "rate_limited", 500: "internal_error",
          503: "unavailable"}  # fmt: skip


def envelope(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "ok": False,
        "error": {
            "status": status,
            "type": _TYPES.get(status, "error"),
            "message": message,
            "details": details or [],
        },
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _detail_from_pydantic(error: dict[str, Any]) -> dict[str, Any]:
    """Row (1-based, within the batch), field and reason of one pydantic error."""
    if error.get("type") == "json_invalid":
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        return {"row": None, "field": None, "reason": f"malformed JSON: {reason}"}
    loc = list(error.get("loc", ()))
    skip = 1 if loc and loc[0] in ("body", "query", "path") else 0
    row = None
    if len(loc) >= skip + 2 and loc[skip] in ("items", "events") and isinstance(loc[skip + 1], int):
        row = loc[skip + 1] + 1
        skip += 2
    field, reason = pydantic_problem(error, skip=skip)
    return {"row": row, "field": field, "reason": reason}


def _wants_page(request: Request) -> bool:
    """A browser opening an admin page (it gets the sign-in form, not JSON)."""
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET"
        and "text/html" in accept
        and not request.url.path.startswith(
            ("/stats", "/metrics", "/keys", "/erasures", "/openapi.json")
        )
    )


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Route every error through the envelope."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [_detail_from_pydantic(dict(e)) for e in exc.errors()]
        first = details[0] if details else {"reason": "invalid request"}
        where = ", ".join(f"{k} {first[k]}" for k in ("row", "field") if first.get(k) is not None)
        message = f"{where}: {first['reason']}" if where else str(first["reason"])
        return envelope(422, message, details)

    @app.exception_handler(ValidationError)
    async def _shelf_validation(_request: Request, exc: ValidationError) -> JSONResponse:
        return envelope(422, exc.describe(), [exc.to_dict()])

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        # the cause chained to the StoreError holds the statement and parameters
        log.error("store failure on %s %s: %s", request.method, request.url.path, exc,
                  exc_info=exc)  # fmt: skip
        return envelope(exc.status_code, STORE_FAILED)

    @app.exception_handler(ShelfError)
    async def _shelf(request: Request, exc: ShelfError) -> Response:
        if exc.status_code in (401, 403) and _wants_page(request):
            from shelf.web.routes import login_page

            return login_page(request, str(exc), exc.status_code)
        headers = {}
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return envelope(exc.status_code, str(exc), headers=headers or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; list every method.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return envelope(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the route template, not the path: a path may hold a user id
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.exception("unhandled error on %s %s", request.method, route)
        return envelope(500, "internal error")
