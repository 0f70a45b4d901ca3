"""HTTP routes for SAML sign-in through a municipality's Context Handler (backend.people.federation.saml)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from backend.clock import Clock
from backend.errors import Problem, not_found
from backend.people import schemas as s
from backend.people.actor import PUBLIC
from backend.people.federation import saml, saml_provider


def _provider(state: State, municipality_id: uuid.UUID) -> saml_provider.SamlProvider:
    provider: saml_provider.SamlProvider | None = state.saml_providers.get(municipality_id)
    if provider is None:
        raise not_found("SAML identity provider for this municipality")
    return provider


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
        summary="Start signing in with the municipality's identity provider (a signed AuthnRequest)",
    )
    async def saml_login(self, state: State, clock: Clock, municipality_id: uuid.UUID) -> Redirect:
        provider = _provider(state, municipality_id)
        request_id = saml_provider.new_request_id()
        relay = saml_provider.relay_state(state.settings.secret_key, municipality_id, request_id, clock.now())
        location = await saml_provider.authn_request(provider, request_id, relay)
        return Redirect(location, status_code=302, headers={"Cache-Control": "no-store"})

    @post(
        "/acs",
        opt={"roles": PUBLIC},
        security=[],
        status_code=204,
        summary="The identity provider's answer (HTTP-POST binding); refused until the municipality maps roles",
    )
    async def saml_acs(
        self,
        state: State,
        clock: Clock,
        municipality_id: uuid.UUID,
        data: Annotated[s.SamlPostIn, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> None:
        provider = _provider(state, municipality_id)
        now = clock.now()
        request_id = saml_provider.request_of(state.settings.secret_key, municipality_id, data.relay_state, now)
        await saml.accept_assertion(state.sessions, provider, data.saml_response, request_id, now)
        raise Problem(
            403,
            "No Lindra role for this sign-in yet",
            "Your municipality's login vouched for you, but Lindra does not yet know which role and districts "
            "it gives you. Ask your administrator.",
            rule="saml_not_mapped",
        )
