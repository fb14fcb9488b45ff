"""The sync and async clients: connection settings, keys, retries on 429, errors.

Each method is a route's builder from :mod:`shelf.client.calls` bound to the client that sends
it (:func:`_sync`, :func:`_async`), so both clients have the same methods with the same
parameters, types and documentation.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable, Coroutine
from types import GenericAlias, TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import httpx

from shelf import __version__
from shelf.client import calls
from shelf.client.calls import SHOPPER_TOKEN_HEADER, Call
from shelf.client.errors import Timeout, TransportError, error_from, retry_after, unexpected

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # where `shelf serve` listens by default


class _Base:
    """What both clients share: the settings, the headers, the retry rule, the reading of
    an answer or an error."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        shopper_token: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        max_retry_wait: float,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if max_retry_wait < 0:
            raise ValueError(f"max_retry_wait must be 0 or more, got {max_retry_wait}")
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.headers = {"User-Agent": f"shelf-client/{__version__}", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        if shopper_token:
            self.headers[SHOPPER_TOKEN_HEADER] = shopper_token
        parts = (api_key or "").split("_", 3)  # shelf_<scope>_<id>_<secret>
        self._key_prefix = "_".join(parts[:3]) if len(parts) == 4 else "***" if api_key else None

    def __repr__(self) -> str:  # the key's public prefix only, never the key
        return f"{type(self).__name__}({self.base_url!r}, key={self._key_prefix!r})"

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        return http.build_request(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending again, or None to answer now: a 429 is retried
        ``max_retries`` times, after its ``Retry-After``, unless that is over
        ``max_retry_wait``."""
        if response.status_code != 429 or attempt >= self.max_retries:
            return None
        wait = retry_after(response)
        if wait is None:
            wait = min(2.0**attempt, self.max_retry_wait)
        return wait if wait <= self.max_retry_wait else None

    def _unreachable(self, request: httpx.Request, exc: httpx.TransportError) -> TransportError:
        where = f"{request.method} {request.url.copy_with(query=None)}"
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"{where}: no answer within the timeout {self.timeout} ({exc!r})")
        return TransportError(f"{where}: could not reach shelf: {exc!r}")

    @staticmethod
    def _answer(call: Call[T], response: httpx.Response) -> T:
        if response.is_success:
            return call.read(response)
        if response.status_code < 400:
            where = response.headers.get("location", "nowhere")
            raise unexpected(response, f"a {response.status_code} to {where}")
        raise error_from(response, call.missing)


def _signature(build: Callable[..., Any], wrap: Callable[[Any], Any]) -> inspect.Signature:
    """The builder's signature with ``self`` first and the answer's type as the return."""
    made = inspect.signature(build)
    returns = typing.get_type_hints(build, vars(calls)).get("return")
    answer = typing.get_args(returns)[0] if typing.get_args(returns) else Any
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    return made.replace(
        parameters=[self, *made.parameters.values()], return_annotation=wrap(answer)
    )


def _sync(build: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(build(*args, **kwargs))

    functools.update_wrapper(method, build)
    method.__signature__ = _signature(build, lambda t: t)  # type: ignore[attr-defined]
    return method


def _async(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(build(*args, **kwargs))

    functools.update_wrapper(method, build)
    method.__signature__ = _signature(  # type: ignore[attr-defined]
        build, lambda t: GenericAlias(Coroutine, (Any, Any, t))
    )
    return method


class Client(_Base):
    """The HTTP API of shelf, over ``httpx.Client``.

    ``api_key`` is sent as ``Authorization: Bearer``; ``shopper_token`` as ``X-Shopper-Token``
    on every request (a call's own ``shopper_token=`` wins). A 429 is retried ``max_retries``
    times after its ``Retry-After`` (none by default). ``transport`` replaces the network
    (``httpx.MockTransport``, or an app in-process). Errors are :mod:`shelf.client.errors`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        shopper_token: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 0,
        max_retry_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, shopper_token=shopper_token, timeout=timeout,
            max_retries=max_retries, max_retry_wait=max_retry_wait,
        )  # fmt: skip
        self._http = httpx.Client(
            base_url=base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    def send(self, call: Call[T]) -> T:
        """Send one described call and read its answer (what every method does)."""
        request = self._request(self._http, call)
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(request, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._answer(call, response)
            response.close()
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    health = _sync(calls.health)
    search = _sync(calls.search)
    list_items = _sync(calls.list_items)
    get_item = _sync(calls.get_item)
    post_items = _sync(calls.post_items)
    delete_item = _sync(calls.delete_item)
    post_events = _sync(calls.post_events)
    recommend = _sync(calls.recommend)
    similar_items = _sync(calls.similar_items)
    bought_together = _sync(calls.bought_together)
    trending = _sync(calls.trending)
    delete_user = _sync(calls.delete_user)
    erasures = _sync(calls.erasures)
    list_keys = _sync(calls.list_keys)
    create_key = _sync(calls.create_key)
    revoke_key = _sync(calls.revoke_key)
    stats = _sync(calls.stats)
    metrics = _sync(calls.metrics)
    openapi = _sync(calls.openapi)


class AsyncClient(_Base):
    """The HTTP API of shelf, over ``httpx.AsyncClient``: the methods of :class:`Client`,
    awaited. ``transport`` may be ``httpx.ASGITransport(app)`` to call an app in-process."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        shopper_token: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 0,
        max_retry_wait: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, shopper_token=shopper_token, timeout=timeout,
            max_retries=max_retries, max_retry_wait=max_retry_wait,
        )  # fmt: skip
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def send(self, call: Call[T]) -> T:
        """Send one described call and read its answer (what every method does)."""
        request = self._request(self._http, call)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(request, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._answer(call, response)
            await response.aclose()
            await anyio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    health = _async(calls.health)
    search = _async(calls.search)
    list_items = _async(calls.list_items)
    get_item = _async(calls.get_item)
    post_items = _async(calls.post_items)
    delete_item = _async(calls.delete_item)
    post_events = _async(calls.post_events)
    recommend = _async(calls.recommend)
    similar_items = _async(calls.similar_items)
    bought_together = _async(calls.bought_together)
    trending = _async(calls.trending)
    delete_user = _async(calls.delete_user)
    erasures = _async(calls.erasures)
    list_keys = _async(calls.list_keys)
    create_key = _async(calls.create_key)
    revoke_key = _async(calls.revoke_key)
    stats = _async(calls.stats)
    metrics = _async(calls.metrics)
    openapi = _async(calls.openapi)
