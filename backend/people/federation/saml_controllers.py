"""HTTP routes for SAML sign-in through a municipality's Context Handler (backend.people.federation.saml,
then saml_sign_in: the same mapping and board collection as OpenID Connect)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.board.page import SECURITY_HEADERS
from backend.clock import Clock
from backend.deps import request_id
from backend.errors import Problem, not_found
from backend.people import schemas as s
from backend.people.actor import PUBLIC
from backend.people.controllers import NO_STORE
from backend.people.federation import saml, saml_provider, saml_sign_in
from backend.people.federation import schemas as fs
from backend.people.federation.controllers import attempt_cookie, refused
from backend.people.federation.mapping import Refusal


def _provider(state: State, municipality_id: uuid.UUID) -> saml_provider.SamlProvider:
    provider: saml_provider.SamlProvider | None = state.saml_providers.get(municipality_id)
    if provider is None:
        raise not_found("SAML identity provider for this municipality")
    return provider


async def _authn_request(state: State, municipality_id: uuid.UUID, now: datetime) -> tuple[str, str]:
    """A new AuthnRequest's id, and the provider's sign-in URL carrying it (with our signed RelayState)."""
    provider = _provider(state, municipality_id)
    authn_request_id = saml_provider.new_request_id()
    relay = saml_provider.relay_state(state.settings.secret_key, municipality_id, authn_request_id, now)
    return authn_request_id, await saml_provider.authn_request(provider, authn_request_id, relay)


class SamlController(Controller):
    path = "/auth/saml/{municipality_id:uuid}"
    tags = ["auth"]

    @get(
        "/metadata",
        opt={"roles": PUBLIC},
        security=[],
        media_type="application/samlmetadata+xml",
        include_in_schema=False,  # for KOMBIT's administration module, not for API clients
        summary="Lindra's SAML metadata for this municipality (to register the it-system with the provider)",
    )
    async def saml_metadata(self, state: State, municipality_id: uuid.UUID) -> Response[str]:
        return Response(saml_provider.sp_metadata(_provider(state, municipality_id)))

    @get(
        "/login",
        opt={"roles": PUBLIC},
        security=[],
        status_code=302,
        summary="The board's browser starts signing in at the municipality's identity provider (a signed AuthnRequest)",
    )
    async def saml_login(self, db: AsyncSession, state: State, clock: Clock, municipality_id: uuid.UUID) -> Redirect:
        now = clock.now()
        authn_request_id, location = await _authn_request(state, municipality_id, now)
        cookie = secrets.token_urlsafe(32)
        await saml_sign_in.begin(
            db, municipality_id, authn_request_id, now, client=fs.SignInClient.BOARD, binding=cookie
        )
        return Redirect(
            location,
            status_code=302,
            headers={"Cache-Control": "no-store"},
            cookies=[attempt_cookie(state.settings, cookie)],
        )

    @post(
        "/start",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="The phone app begins signing in at the municipality's SAML provider: open authorize_url",
    )
    async def saml_start(
        self, db: AsyncSession, state: State, clock: Clock, municipality_id: uuid.UUID, data: fs.SamlAppStartIn
    ) -> fs.StartOut:
        now = clock.now()
        authn_request_id, location = await _authn_request(state, municipality_id, now)
        await saml_sign_in.begin(
            db,
            municipality_id,
            authn_request_id,
            now,
            client=fs.SignInClient.APP,
            binding=data.device_key,
            code_challenge=data.code_challenge,
        )
        return fs.StartOut(authorize_url=location, state=authn_request_id)

    @post(
        "/acs",
        opt={"roles": PUBLIC},
        security=[],
        cache_control=NO_STORE,
        summary="The identity provider's answer (HTTP-POST binding): on to the board, or a page saying why not",
    )
    async def saml_acs(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        state: State,
        clock: Clock,
        municipality_id: uuid.UUID,
        data: Annotated[s.SamlPostIn, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        provider = _provider(state, municipality_id)
        now = clock.now()
        authn_request_id = saml_provider.request_of(state.settings.secret_key, municipality_id, data.relay_state, now)
        try:
            identity = await saml.accept_assertion(state.sessions, provider, data.saml_response, authn_request_id, now)
        except Problem as problem:
            if problem.status >= 500:
                raise
            return refused(Refusal("failed"), request)  # its rule is logged; a browser is shown a page
        if authn_request_id is None:  # accept_assertion refuses an answer to no request of ours already
            return refused(Refusal("failed"), request)
        onward = await saml_sign_in.answer(db, state.settings, identity, authn_request_id, now, request_id(request))
        if isinstance(onward, Refusal):
            return refused(onward, request)
        return Redirect(onward, status_code=303, headers=SECURITY_HEADERS)  # the board, or the app
