"""Security headers on every response (from the ``secure`` package): no sniffing, no framing,
no referrer leaks, and a content security policy that lets pages load only shelf's own
scripts and styles. The API docs page needs its inline bootstrap script, so it alone gets
``'unsafe-inline'`` scripts."""

from __future__ import annotations

import secure
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = ("/docs", "/redoc")


def _headers(script_src: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    csp = (
        secure.ContentSecurityPolicy()
        .default_src("'self'")
        .script_src(*script_src)
        .style_src("'self'", "'unsafe-inline'")  # the docs' and Swagger's inline styles
        .img_src("'self'", "data:", "https:")  # product images come from the shop's CDN
        .connect_src("'self'")
        .object_src("'none'")
        .base_uri("'self'")
        .form_action("'self'")
        .frame_ancestors("'none'")
    )
    headers = secure.Secure(
        csp=csp,
        xfo=secure.XFrameOptions().deny(),
        xcto=secure.XContentTypeOptions(),
        referrer=secure.ReferrerPolicy().strict_origin_when_cross_origin(),
        permissions=secure.PermissionsPolicy().geolocation().microphone().camera(),
    ).headers
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


PAGE_HEADERS = _headers(("'self'",))
DOCS_HEADERS = _headers(("'self'", "'unsafe-inline'"))


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = DOCS_HEADERS if scope.get("path", "").startswith(DOCS_PATHS) else PAGE_HEADERS

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, add)
