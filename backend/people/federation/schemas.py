"""What goes over the wire for signing in with a municipality's provider, and for its administration."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from backend.people.models import Role
from backend.people.schemas import DeviceIn, DeviceKey, DistrictIds
from backend.wire import Input

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# RFC 7636: a verifier is 43 to 128 characters; its S256 challenge is 43.
Verifier = Annotated[str, msgspec.Meta(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9\-._~]+$")]
Challenge = Annotated[str, msgspec.Meta(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9\-_]+$")]
OneTime = Annotated[str, msgspec.Meta(min_length=16, max_length=2048)]


class SignInClient(enum.StrEnum):
    BOARD = "board"  # the browser is sent back to Lindra, which exchanges the code
    APP = "app"  # the phone's system browser is sent back to the app, which hands Lindra the code


class ProviderChoice(msgspec.Struct, frozen=True):
    """A municipality whose staff may sign in with its own provider (for the sign-in page's button)."""

    municipality_id: uuid.UUID
    name: str
    # "oidc": start at POST /auth/oidc/start; "saml": send the browser to /auth/saml/<id>/login
    # (the board; the phone app signs in through OpenID Connect).
    protocol: str = "oidc"


class StartIn(Input, kw_only=True):
    municipality_id: uuid.UUID
    client: SignInClient
    device_key: DeviceKey
    # The app's PKCE challenge (S256 of the verifier it keeps); the board leaves it out.
    code_challenge: Challenge | None = None


class SamlAppStartIn(Input, kw_only=True):
    """The app begins signing in through SAML: the answer comes back to it with a one-time code."""

    device_key: DeviceKey
    code_challenge: Challenge  # S256 of the verifier the app keeps


class StartOut(msgspec.Struct, frozen=True):
    """Open `authorize_url` in the (system) browser; the answer comes back with this `state`."""

    authorize_url: str
    state: str


class AppTokenIn(Input, kw_only=True):
    """What the app got back at its redirect URI, with what it kept: its verifier and device key."""

    state: OneTime
    code: OneTime
    code_verifier: Verifier
    device_key: DeviceKey
    device: DeviceIn


class CollectIn(Input, kw_only=True):
    """The board, back from the provider, collects its tokens (its cookie says which sign-in)."""

    device_key: DeviceKey
    device: DeviceIn


class OidcProviderIn(Input, kw_only=True):
    issuer: Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
    client_id: Text
    client_secret: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    scopes: Annotated[str, msgspec.Meta(min_length=6, max_length=500)] = "openid profile email offline_access"


class OidcProviderOut(msgspec.Struct, frozen=True):
    """The provider's settings (never its secret), and what to register at the provider."""

    issuer: str
    client_id: str
    scopes: str
    board_redirect_uri: str
    app_redirect_uri: str
    backchannel_logout_uri: str


class MappingIn(Input, kw_only=True):
    """A claim's meaning: a role (and districts), or districts alone (a data restriction)."""

    claim: Text
    role: Role | None
    district_ids: DistrictIds = msgspec.field(default_factory=list)
    provider: Annotated[str, msgspec.Meta(pattern="^(oidc|saml)$")] = "oidc"


class MappingOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    provider: str
    claim: str
    role: Role | None
    district_ids: list[uuid.UUID]


class UserStopped(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    disabled_at: datetime | None
    devices_revoked: int
