"""create_app(settings) -> Litestar: dependencies, routes, error shapes and the database lifespan."""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from backend.alerts.controllers import ALERT_CONTROLLERS
from backend.alerts.sms.controllers import KannelController
from backend.alerts.watch import Watcher
from backend.audit.controllers import AuditController
from backend.board.controllers import BOARD_API_CONTROLLERS
from backend.board.page import board_page
from backend.cases.controllers import CASE_CONTROLLERS
from backend.clock import Clock
from backend.config import Settings
from backend.contract import document_problems, operation_id
from backend.db import make_engine, make_pool, make_sessionmaker
from backend.deprecation import deprecation_middleware, document_retirements
from backend.deps import authenticate, provide_actor, provide_clock, provide_db, provide_pg, provide_read
from backend.errors import EXCEPTION_HANDLERS
from backend.exports.controllers import EXPORT_CONTROLLERS
from backend.gzip_bodies import MAX_BODY_BYTES, gzip_bodies_middleware
from backend.health import HealthController
from backend.idempotency import provide_write, replay_header_middleware
from backend.messages.clients import CLIENT_ROLE
from backend.messages.controllers import InboxController
from backend.messages.letter_controllers import LETTER_CONTROLLERS
from backend.metrics import MetricsController, metrics_middleware
from backend.people.actor import PUBLIC
from backend.people.controllers import PEOPLE_CONTROLLERS
from backend.people.federation.controllers import FEDERATION_CONTROLLERS
from backend.people.federation.discovery import ProviderDirectory
from backend.people.federation.saml_controllers import SamlController
from backend.people.federation.saml_provider import load_providers
from backend.realtime import Hub, events_socket
from backend.roster.controllers import ROSTER_CONTROLLERS
from backend.row_scope import SYSTEM
from backend.visits.routes import VISIT_ROUTES
from backend.worker import background_work
from mobile_api.controllers import MOBILE_CONTROLLERS

log = logging.getLogger("lindra")

DOCS_ASSETS = "/schema/assets"

ROUTE_HANDLERS: list[Any] = [
    HealthController,
    MetricsController,
    AuditController,
    *PEOPLE_CONTROLLERS,
    *FEDERATION_CONTROLLERS,
    SamlController,
    *CASE_CONTROLLERS,
    *ROSTER_CONTROLLERS,
    *VISIT_ROUTES,
    *MOBILE_CONTROLLERS,
    events_socket,
    *ALERT_CONTROLLERS,
    KannelController,
    *BOARD_API_CONTROLLERS,
    InboxController,
    *EXPORT_CONTROLLERS,
    *LETTER_CONTROLLERS,
    board_page,
    create_static_files_router(
        path=DOCS_ASSETS, directories=[swagger_ui_path], opt={"roles": PUBLIC}, include_in_schema=False
    ),
]


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (the caller's X-Request-ID if sane), echoed back and put in audit rows."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


# The dependencies that hand the authenticated actor (or system client) to a handler.
ACTOR_CARRIERS = frozenset({"actor", "read", "client"})


def authenticates(handler: HTTPRouteHandler) -> bool:
    """Whether the handler takes the actor (`actor` or `read`), itself or through a dependency (e.g. `write`).

    `authenticate` has checked the login and role of every guarded route already; a handler that
    never looks at who is asking cannot scope what it answers, so it is refused at start-up.
    """
    providers = handler.resolve_dependencies()
    todo = list(handler.parsed_fn_signature.parameters)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in ACTOR_CARRIERS:
            return True
        if name in providers and name not in seen:
            seen.add(name)
            todo.extend(providers[name].parsed_fn_signature.parameters)
    return False


def check_every_route_is_guarded(app: Litestar) -> None:
    """Fail at start-up, not in production, if a route forgot its roles or its actor check."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or route.path.startswith("/schema"):
                continue
            if handler.http_methods == {"OPTIONS"}:  # Litestar's automatic CORS pre-flight answer
                continue
            roles = handler.opt.get("roles") or handler.opt.get(CLIENT_ROLE)
            if roles is None:
                raise RuntimeError(f"{route.path} declares no roles")
            if roles != PUBLIC and not authenticates(handler):
                raise RuntimeError(f"{route.path} declares roles but does not authenticate its caller")


def create_app(settings: Settings, clock: Clock | None = None) -> Litestar:
    """The whole HTTP application over the database at `settings.database_url`."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_role or None)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        app.state.pool = await make_pool(settings.database_url, settings.db_pool_size, settings.db_role or None)
        app.state.hub = Hub(settings.database_url, app.state.pool)
        await app.state.hub.start()
        background = AsyncExitStack()
        app.state.oidc = ProviderDirectory(
            await background.enter_async_context(httpx.AsyncClient(timeout=settings.oidc_timeout_seconds)),
            settings.oidc_key_refetch_seconds,
        )
        # Every instance watches for a dead worker and failing gateways, and tells the coordinators itself.
        app.state.watcher = Watcher(make_sessionmaker(engine, SYSTEM), settings, app.state.clock)
        app.state.watcher.start()
        background.push_async_callback(app.state.watcher.stop)
        if settings.housekeeping:
            app.state.scheduler = await background.enter_async_context(
                background_work(make_sessionmaker(engine, SYSTEM), settings, app.state.clock)
            )
        # Everything loaded so far lives as long as the process: keep the collector from walking it
        # again and again, which shows as long pauses in the slowest percentile of answers.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await background.aclose()
            await app.state.hub.stop()
            await app.state.pool.close()
            await engine.dispose()

    app = Litestar(
        route_handlers=ROUTE_HANDLERS,
        dependencies={
            "db": Provide(provide_db),
            "pg": Provide(provide_pg),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "write": Provide(provide_write, sync_to_thread=False),
            "read": Provide(provide_read, sync_to_thread=False),
            "clock": Provide(provide_clock, sync_to_thread=False),
        },
        middleware=[
            metrics_middleware,
            request_id_middleware,
            replay_header_middleware,
            deprecation_middleware,
            gzip_bodies_middleware,
        ],
        before_request=authenticate,
        exception_handlers=EXCEPTION_HANDLERS,
        # The process's logging is `backend.logs.configure_logging`'s: Litestar's default would
        # replace the root handlers, and with them the JSON formatter that drops exception messages.
        logging_config=None,
        lifespan=[lifespan],
        state=None,
        cors_config=CORSConfig(allow_origins=list(settings.allowed_origins)) if settings.allowed_origins else None,
        request_max_body_size=MAX_BODY_BYTES,
        # A phone at the bedside may have a weak signal: answers larger than one packet travel
        # gzipped to clients that accept it (every phone's HTTP stack does); my shift to about an eighth.
        compression_config=CompressionConfig(backend="gzip", minimum_size=1400, gzip_compress_level=6),
        openapi_config=OpenAPIConfig(
            title="Lindra",
            version="1",
            description="Cases, visits and escalating alerts for people who wish to die at home.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
            operation_id_creator=operation_id,
            # Served from the package, not a CDN: the page works on a network without internet.
            render_plugins=[
                SwaggerRenderPlugin(
                    path=["/", "/swagger"],
                    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
                )
            ],
        ),
        debug=False,
    )
    app.state.settings = settings
    app.state.clock = clock or Clock()
    app.state.saml_providers = load_providers(settings.saml_providers_file)
    check_every_route_is_guarded(app)
    document_problems(app)
    document_retirements(app)
    return app
