"""Observability: Prometheus metrics per route and one structured (JSON) log line per request.

Metrics live in a registry of the app's own, so several apps in one process (tests) do not mix.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("shelf.access")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shelf_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shelf_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "shelf_events_ingested",
            "Events newly stored, by source (http or file).",
            ["source"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "shelf_events_duplicate",
            "Events received that were already stored.",
            ["source"],
            registry=self.registry,
        )
        self.items_upserted = Counter(
            "shelf_items_upserted", "Items upserted over HTTP.", registry=self.registry
        )
        self.items_deleted = Counter(
            "shelf_items_deleted", "Items deleted over HTTP.", registry=self.registry
        )
        self.model_version = Gauge(
            "shelf_model_info",
            "The model versions serving (value 1), by service and version.",
            ["service", "version"],
            registry=self.registry,
        )


class ObserveRequests:
    """ASGI middleware: counts, times and logs every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex[:16]

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                record: dict[str, Any] = {
                    "request_id": request_id,
                    "method": method,
                    "route": template,  # never the raw path: it may hold a user id
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                }
                access_log.info(json.dumps(record))
