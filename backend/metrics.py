"""Prometheus metrics at /metrics: what an operator watches at night, and nothing personal.

Counters and histograms are kept per process (each instance is scraped on its own); the open
alerts and the NOTIFY queue are read from the database at scrape time, so every instance
reports the same truth. Labels are route templates, codes and outcomes, never ids.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from backend.alerts.watch_models import Fault
from backend.errors import Problem
from backend.people.actor import PUBLIC
from backend.row_scope import SYSTEM, acquire

REGISTRY = CollectorRegistry()

REQUESTS = Counter("lindra_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "lindra_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
# What the background work counts (`backend/worker.py`): in the worker process that `lindra serve`
# starts, which serves them to its instance's /metrics on a loopback port; or in this process when the
# work runs here.
WORKER_REGISTRY = CollectorRegistry()
WORKER_SCRAPE_SECONDS = 1.0
ESCALATION_LATENESS = Histogram(
    "lindra_escalation_lateness_seconds",
    "How late a tier fired after its deadline",
    buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0),
    registry=WORKER_REGISTRY,
)
PUSHES = Counter("lindra_push_results", "Push attempts by outcome", ["outcome"], registry=WORKER_REGISTRY)
WORKER_UP = Gauge("lindra_worker_up", "1 while this instance's background worker answers", registry=REGISTRY)
OPEN_ALERTS = Gauge("lindra_open_alerts", "Alerts not yet resolved", ["status", "severity"], registry=REGISTRY)
WEBSOCKET_CLIENTS = Gauge("lindra_websocket_clients", "Boards and phones connected to this instance", registry=REGISTRY)
LISTENER_UP = Gauge("lindra_listener_connected", "1 while the LISTEN connection is up", registry=REGISTRY)
LISTENER_RECONNECTS = Gauge("lindra_listener_reconnects", "LISTEN reconnections since start", registry=REGISTRY)
FAULTS = Gauge("lindra_fault", "1 while Lindra sees this fault in itself (see /ready)", ["fault"], registry=REGISTRY)
NOTIFY_QUEUE = Gauge(
    "lindra_notify_queue_usage",
    "Fraction of PostgreSQL's NOTIFY queue in use (1.0 stalls every commit)",
    registry=REGISTRY,
)


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Count and time every HTTP request by its route template (never its ids)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_see)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            REQUESTS.labels(scope.get("method", "?"), route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)

    return middleware


class MetricsController(Controller):
    path = "/metrics"
    include_in_schema = False

    @get("/", opt={"roles": PUBLIC}, summary="Prometheus metrics")
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Open when no LINDRA_METRICS_TOKEN is set (the proxy keeps /metrics inside); else that bearer token."""
        state = request.app.state
        expected = state.settings.metrics_token
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if expected and not hmac.compare_digest(given.encode(), expected.encode()):
            raise Problem(401, "Not authenticated", "Send the metrics token as a bearer token.")
        async with acquire(state.pool, SYSTEM) as conn:  # counts across municipalities, nothing more
            rows = await conn.fetch(
                "SELECT status, severity, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY 1, 2"
            )
            NOTIFY_QUEUE.set(await conn.fetchval("SELECT pg_notification_queue_usage()"))
            faults = {row["fault"] for row in await conn.fetch("SELECT fault FROM watch_alarms WHERE ended_at IS NULL")}
        for fault in Fault:
            FAULTS.labels(fault.value).set(1 if fault.value in faults else 0)
        OPEN_ALERTS.clear()
        for row in rows:
            OPEN_ALERTS.labels(row["status"], row["severity"]).set(row["n"])
        hub = state.hub
        WEBSOCKET_CLIENTS.set(hub.client_count)
        LISTENER_UP.set(1 if hub.connected else 0)
        LISTENER_RECONNECTS.set(hub.reconnects)
        port = state.settings.worker_metrics_port
        background = await _worker_metrics(port) if port else generate_latest(WORKER_REGISTRY)
        WORKER_UP.set(1 if background else 0)
        return Response(generate_latest(REGISTRY) + background, media_type=CONTENT_TYPE_LATEST)


async def _worker_metrics(port: int) -> bytes:
    """The worker's metrics from its loopback port; nothing if it does not answer within a second."""
    try:
        async with asyncio.timeout(WORKER_SCRAPE_SECONDS):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            answer = await reader.read()
            writer.close()
    except (OSError, TimeoutError):
        return b""
    head, _, body = answer.partition(b"\r\n\r\n")
    return body if head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200") else b""
