"""What the client raises: the service's error envelope as shelf's own exceptions.

Every error derives from :class:`shelf.errors.ShelfError`; a 422 is also a
:class:`shelf.errors.ValidationError`, a 404 a :class:`shelf.errors.NotFoundError` and a 503 a
:class:`shelf.errors.ServiceUnavailable`, so code that catches the library's errors catches the
service's too::

    ShelfError
    ├── APIError                    the service answered an error (status, code, message,
    │   │                           details, request id)
    │   ├── BadRequest              400, 405, 413, 415 and other 4xx
    │   ├── AuthenticationError     401: no key, or an unknown, revoked or expired one
    │   ├── PermissionDenied        403: the key's scope is too low (or open mode, remote)
    │   ├── NotFound                404: the item, user or key does not exist
    │   ├── ValidationError         422: row, field and reason of each problem
    │   ├── RateLimited             429: ``retry_after`` seconds
    │   └── ServerError             5xx
    │       └── Unavailable         503: not built or trained yet, or the store failed
    ├── UnexpectedResponse          a success whose body is not what the route answers
    └── TransportError              the service could not be reached (cause chained)
        └── Timeout                 no answer within the client's timeout
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shelf import errors

MAX_QUOTED = 300  # characters of a body without the envelope quoted in the message


@dataclass(frozen=True)
class ErrorDetail:
    """One problem of a request: the row (1-based, within a batch), the field, the reason."""

    row: int | None
    field: str | None
    reason: str


class APIError(errors.ShelfError):
    """The service answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        details: list[ErrorDetail],
        request_id: str | None,
        method: str,
        path: str,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.method = method
        self.path = path
        request = f"{method} {path}" + (f", request {request_id}" if request_id else "")
        Exception.__init__(self, f"{status} {code}: {message} ({request})")


class BadRequest(APIError):
    """A request the service refused for its form (400, 405, 413, 415, other 4xx)."""

    status_code = 400


class AuthenticationError(APIError):
    """401: the route needs an API key, and none or an unknown one was sent."""

    status_code = 401


class PermissionDenied(APIError):
    """403: the key's scope is too low for the route."""

    status_code = 403


class NotFound(APIError, errors.NotFoundError):
    """404: ``kind`` (item, user, key) ``key`` does not exist."""

    status_code = 404

    def __init__(self, message: str, *, kind: str, key: str, **context: Any) -> None:
        APIError.__init__(self, message, **context)
        self.kind = kind
        self.key = key


class ValidationError(APIError, errors.ValidationError):
    """422: ``reason``, ``field`` and ``row`` of the first problem; ``details`` has all."""

    status_code = 422

    def __init__(self, message: str, **context: Any) -> None:
        APIError.__init__(self, message, **context)
        first = self.details[0] if self.details else ErrorDetail(None, None, message)
        self.reason = first.reason
        self.field = first.field
        self.row = first.row
        self.source = None


class RateLimited(APIError):
    """429: the key or client sent too much; ``retry_after`` seconds until it may again."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the service failed."""

    status_code = 500


class Unavailable(ServerError, errors.ServiceUnavailable):
    """503: search or recommendations are not built or trained yet, or the store failed."""

    status_code = 503


class UnexpectedResponse(errors.ShelfError):
    """A success status whose body is not what the route answers (another service, a proxy,
    or a server of another version)."""

    def __init__(self, message: str, *, status: int, request_id: str | None) -> None:
        self.status = status
        self.request_id = request_id
        super().__init__(message)


class TransportError(errors.ShelfError):
    """The service could not be reached or the connection broke; the httpx error is the
    ``__cause__``."""


class Timeout(TransportError):
    """No answer within the client's ``timeout``."""


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _envelope(response: httpx.Response) -> tuple[str, str, list[ErrorDetail]]:
    """Code, message and details of an error response; a body without the envelope (a
    proxy's page) is quoted as the message."""
    try:
        body = response.json()
        error = body["error"]
        details = [
            ErrorDetail(d.get("row"), d.get("field"), str(d.get("reason", "")))
            for d in error.get("details") or []
        ]
        return str(error["type"]), str(error["message"]), details
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip()[:MAX_QUOTED] or response.reason_phrase
        return "error", text, []


def error_from(response: httpx.Response, missing: tuple[str, str] | None) -> APIError:
    """The exception for an error response; ``missing`` is the (kind, key) a 404 is about."""
    code, message, details = _envelope(response)
    status = response.status_code
    context: dict[str, Any] = {
        "status": status,
        "code": code,
        "details": details,
        "request_id": response.headers.get("x-request-id"),
        "method": response.request.method,
        "path": response.request.url.path,
    }
    if status == 401:
        return AuthenticationError(message, **context)
    if status == 403:
        return PermissionDenied(message, **context)
    if status == 404:
        kind, key = missing or ("route", context["path"])
        return NotFound(message, kind=kind, key=key, **context)
    if status == 422:
        return ValidationError(message, **context)
    if status == 429:
        return RateLimited(message, retry_after=retry_after(response), **context)
    if status == 503:
        return Unavailable(message, **context)
    if status >= 500:
        return ServerError(message, **context)
    return BadRequest(message, **context)


def unexpected(response: httpx.Response, why: str) -> UnexpectedResponse:
    request = response.request
    return UnexpectedResponse(
        f"{request.method} {request.url.path} answered {response.status_code} with a body "
        f"that is not this route's answer: {why}",
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def decode_json(response: httpx.Response) -> Any:
    """The JSON body of a success, or :class:`UnexpectedResponse`."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unexpected(response, f"not JSON ({exc})") from None
