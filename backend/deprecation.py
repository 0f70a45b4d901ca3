"""Retiring an operation without breaking a phone in the field: Deprecation and Sunset first.

A phone already installed can never be forced to update, so nothing it calls is removed at once.
A route to be retired declares when it was deprecated and when it goes, in its `opt`:
`opt={"deprecated_on": date(2027, 1, 1), "sunset_on": date(2027, 7, 1), ...}`. Every answer it
gives then carries `Deprecation` (RFC 9745, `@<unix time>`) and `Sunset` (RFC 8594, an HTTP
date), which an app logs and reports; the OpenAPI document marks the operation deprecated and
describes both headers. The route is removed only after its sunset (README, API changelog).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.utils import format_datetime

from litestar import Litestar
from litestar.datastructures import ResponseHeader
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

DEPRECATED_ON = "deprecated_on"
SUNSET_ON = "sunset_on"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def retirement_headers(deprecated_on: date, sunset_on: date) -> list[tuple[str, str]]:
    """The two headers a retiring route answers with."""
    return [
        ("Deprecation", f"@{int(_midnight(deprecated_on).timestamp())}"),
        ("Sunset", format_datetime(_midnight(sunset_on), usegmt=True)),
    ]


def _retiring(handler: object) -> tuple[date, date] | None:
    opt = getattr(handler, "opt", None) or {}
    if SUNSET_ON not in opt:
        return None
    return opt.get(DEPRECATED_ON) or opt[SUNSET_ON], opt[SUNSET_ON]


def deprecation_middleware(app: ASGIApp) -> ASGIApp:
    """Add Deprecation and Sunset to every answer of a retiring route, errors included."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        retiring = _retiring(scope.get("route_handler")) if scope["type"] == "http" else None
        if retiring is None:
            await app(scope, receive, send)
            return
        extra = [(name.lower().encode(), value.encode()) for name, value in retirement_headers(*retiring)]

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await app(scope, receive, send_marked)

    return middleware


def document_retirements(app: Litestar) -> None:
    """Mark retiring operations deprecated in the OpenAPI document, with the headers they send."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            retiring = _retiring(handler)
            if not isinstance(handler, HTTPRouteHandler) or retiring is None:
                continue
            handler.deprecated = True
            handler.response_headers = [
                *(handler.response_headers or []),
                *(
                    ResponseHeader(name=name, value=value, documentation_only=True, description=meaning)
                    for (name, value), meaning in zip(
                        retirement_headers(*retiring),
                        ("When this operation was deprecated (RFC 9745).", "When it will be removed (RFC 8594)."),
                        strict=True,
                    )
                ),
            ]
