"""HTTP routes for signing in with a municipality's provider, its back-channel logout, and their administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.board.page import SECURITY_HEADERS
from backend.clock import Clock
from backend.config import Settings
from backend.deps import request_id
from backend.errors import Problem
from backend.idempotency import Write
from backend.people import schemas as ps
from backend.people.actor import PUBLIC, Actor
from backend.people.controllers import ADMINS, NO_STORE
from backend.people.federation import admin, logout, oidc
from backend.people.federation import schemas as s
from backend.people.federation.mapping import Refusal
from backend.people.federation.pages import refusal_page

COOKIE = "lindra_oidc"
COOKIE_PATH = "/auth/oidc"


def refused(refusal: Refusal, request: Request[Any, Any, Any]) -> Response[str]:
    """The page that says why the provider's person has no access (403), under the board's policy."""
    page = refusal_page(refusal, request.headers.get("accept-language", "da"))
    return Response(page, status_code=403, media_type=MediaType.HTML, headers=SECURITY_HEADERS)


def attempt_cookie(settings: Settings, value: str) -> Cookie:
    """The cookie that binds a board's sign-in to its browser (OIDC's and SAML's), read by `collect`."""
    return Cookie(
        key=COOKIE,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's redirect back (a top-level navigation) and to `collect`
        secure=settings.public_url.startswith("https://"),
        max_age=settings.oidc_attempt_minutes * 60,
    )


def _cookie(request: Request[Any, Any, Any]) -> str:
    value = request.cookies.get(COOKIE)
    if not value:
        raise Problem(
            400, "Sign-in not recognised", "Start the sign-in again from the board.", field="state", rule="oidc_state"
        )
    return value


class FederatedAuthController(Controller):
    path = "/auth/oidc"
    tags = ["auth"]

    @get(
        "/providers",
        opt={"roles": PUBLIC},
        security=[],
        summary="Municipalities whose staff sign in with their own provider",
    )
    async def providers(self, db: AsyncSession, state: State) -> list[s.ProviderChoice]:
        return await oidc.choices(db, state.saml_providers.keys())

    @post(
        "/start",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Begin signing in at the municipality's provider: open the answer's authorize_url",
    )
    async def start(self, db: AsyncSession, clock: Clock, state: State, data: s.StartIn) -> Response[s.StartOut]:
        started = await oidc.begin(db, state.settings, state.oidc, clock.now(), data)
        cookies = [] if started.cookie is None else [attempt_cookie(state.settings, started.cookie)]
        return Response(started.answer, cookies=cookies)

    @get(
        "/callback",
        opt={"roles": PUBLIC},
        cache_control=NO_STORE,
        include_in_schema=False,
        summary="Where the provider sends the board's browser back",
    )
    async def callback(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        state: State,
        code: Annotated[str | None, Parameter(max_length=2048)] = None,
        oidc_state: Annotated[str | None, QueryParameter(name="state", max_length=2048)] = None,
    ) -> Response[Any]:
        if not code or not oidc_state:  # the provider said no (the person cancelled, or an error)
            return refused(Refusal("cancelled"), request)
        try:
            refusal = await oidc.board_callback(
                db,
                state.settings,
                state.oidc,
                clock.now(),
                state=oidc_state,
                code=code,
                cookie=_cookie(request),
                request_id=request_id(request),
            )
        except Problem as problem:
            if problem.status >= 500:
                raise
            refusal = Refusal("failed")  # a browser is shown a page, not a problem document
        if refusal is not None:
            return refused(refusal, request)
        return Redirect(oidc.BOARD_RETURN, status_code=303, headers=SECURITY_HEADERS)

    @post(
        "/collect",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="The board, back from the provider, collects its tokens (once)",
    )
    async def collect(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, state: State, data: s.CollectIn
    ) -> Response[ps.TokenOut]:
        tokens = await oidc.collect(db, state.settings, clock.now(), _cookie(request), data)
        return Response(tokens, cookies=[Cookie(key=COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True)])

    @post(
        "/token",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="The app hands over the provider's code with its PKCE verifier; signs in this device",
    )
    async def app_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, state: State, data: s.AppTokenIn
    ) -> ps.TokenOut:
        return await oidc.app_token(db, state.settings, state.oidc, clock.now(), data, request_id(request))

    @post(
        "/backchannel-logout/{municipality_id:uuid}",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="OpenID Connect Back-Channel Logout: the provider signs a person's devices out",
    )
    async def backchannel_logout(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        state: State,
        municipality_id: uuid.UUID,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> None:
        token = data.get("logout_token")
        if not token:
            raise Problem(400, "Logout token missing", "Send logout_token.", field="logout_token")
        await logout.backchannel_logout(
            db, state.settings, state.oidc, clock.now(), municipality_id, token, request_id(request)
        )


class FederationAdminController(Controller):
    path = "/admin/federation"
    tags = ["admin"]

    @get("/oidc", opt={"roles": ADMINS}, summary="My municipality's OpenID provider, and what to register there")
    async def get_provider(self, db: AsyncSession, actor: Actor, state: State) -> s.OidcProviderOut:
        return await admin.get_provider(db, state.settings, actor)

    @put("/oidc", opt={"roles": ADMINS}, summary="Set my municipality's OpenID provider (Entra ID, say)")
    async def set_provider(self, write: Write, state: State, data: s.OidcProviderIn) -> s.OidcProviderOut:
        return await write.once(
            data,
            s.OidcProviderOut,
            lambda: admin.set_provider(write.db, state.settings, state.oidc, write.actor, data),
        )

    @get("/mappings", opt={"roles": ADMINS}, summary="What each of the provider's group claims gives in Lindra")
    async def list_mappings(self, db: AsyncSession, actor: Actor) -> list[s.MappingOut]:
        return await admin.list_mappings(db, actor)

    @put(
        "/mappings",
        opt={"roles": ADMINS},
        summary="Map a group claim to a role and districts (from the next sign-in or refresh)",
    )
    async def set_mapping(self, write: Write, data: s.MappingIn) -> s.MappingOut:
        return await write.once(data, s.MappingOut, lambda: admin.set_mapping(write.db, write.actor, data))

    @delete("/mappings/{mapping_id:uuid}", opt={"roles": ADMINS}, status_code=204, summary="Remove a claim's mapping")
    async def delete_mapping(self, db: AsyncSession, actor: Actor, mapping_id: uuid.UUID) -> None:
        await admin.delete_mapping(db, actor, mapping_id)


class UserStopController(Controller):
    path = "/admin/users/{user_id:uuid}"
    tags = ["admin"]

    @post(
        "/disable",
        opt={"roles": ADMINS},
        status_code=200,
        summary="Stop a person: signed out everywhere, no sign-in or refresh",
    )
    async def disable(self, write: Write, clock: Clock, user_id: uuid.UUID) -> s.UserStopped:
        return await write.once(
            None, s.UserStopped, lambda: admin.set_disabled(write.db, write.actor, clock.now(), user_id, True)
        )

    @post("/enable", opt={"roles": ADMINS}, status_code=200, summary="Let a stopped person sign in again")
    async def enable(self, write: Write, clock: Clock, user_id: uuid.UUID) -> s.UserStopped:
        return await write.once(
            None, s.UserStopped, lambda: admin.set_disabled(write.db, write.actor, clock.now(), user_id, False)
        )


FEDERATION_CONTROLLERS: list[type] = [FederatedAuthController, FederationAdminController, UserStopController]
