"""What goes over the wire for people and auth. Bodies refuse unknown fields; every string is bounded.

Token hashes never leave the server: device listings say whether a push token is set, not what it is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from backend.people.mailer import Delivery
from backend.people.models import CodePurpose, OrganisationKind, PasswordSignIn, Platform, Role
from backend.wire import Input

Email = Annotated[str, Meta(min_length=3, max_length=254)]
# Login accepts any password up to the bound (argon2 of a megabyte is a denial of service).
Password = Annotated[str, Meta(min_length=1, max_length=200)]
# What a new password must be is checked by backend.people.passwords, with the reason in plain words.
NewPassword = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        description="A password of your own: at least 12 characters, spaces allowed, no rules on digits or "
        "capitals; refused when common, a pattern, or made of the service's name, your e-mail or a year.",
    ),
]
DeviceKey = Annotated[
    str,
    Meta(
        min_length=32,
        max_length=200,
        description="A random secret the app makes once per install (e.g. 32 random bytes, base64url), keeps "
        "in secure storage beside the refresh token and never shows. Only its hash is stored. Sent at login "
        "and with every refresh, it proves a refresh comes from this phone.",
    ),
]
OneTimeCode = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=64,
        description="The code from the mail, as typed: case, spaces and dashes do not matter.",
    ),
]
SecondFactorCode = Annotated[
    str,
    Meta(
        min_length=6,
        max_length=32,
        description="Admins and coordinators signing in with a password: the six-digit code their authenticator "
        "app shows now, or one of their recovery codes (each works once).",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Phone = Annotated[str, Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]
Mobile = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=32,
        description="The work mobile that alert SMS go to: eight Danish digits (spaces, +45 or 0045 allowed) "
        "or an international number starting with + or 00. Answers show it masked, but for GET "
        "/admin/users/{user_id}.",
    ),
]
AppVersion = Annotated[str, Meta(min_length=1, max_length=32)]
PushToken = Annotated[str, Meta(min_length=1, max_length=4096)]
RefreshToken = Annotated[str, Meta(min_length=1, max_length=200)]
DistrictIds = Annotated[list[uuid.UUID], Meta(max_length=50)]


# ---- requests ---------------------------------------------------------------------------------


class DeviceIn(Input, kw_only=True):
    platform: Platform
    app_version: AppVersion
    push_token: PushToken | None = None


class LoginIn(Input, kw_only=True):
    email: Email
    password: Password
    device: DeviceIn
    # The app's device key. A device still signed in as this user with the same key is never
    # locked out by others' failed logins. Apps that send none are throttled by address.
    device_key: DeviceKey | None = None
    # Required when the password was set by someone else (a 403 `password_change_required` says
    # so); otherwise optional, to change one's own password (every other session then ends).
    new_password: NewPassword | None = None
    # The second factor of admins and coordinators (a 401 `second_factor_required` asks for it).
    otp: SecondFactorCode | None = None


class RefreshIn(Input, kw_only=True):
    """Each refresh token works once. Send the device key given at login: a refresh of a device
    with a key is refused without it, and the device is signed out, since someone else holds its
    refresh token. A retry after a lost answer (within 60 s, the same token) gets a new pair only
    with the key."""

    refresh_token: RefreshToken
    device_key: DeviceKey | None = None


class PasswordSetIn(Input, kw_only=True):
    """Redeem a one-time code from a mail: choose one's own password and sign in this device."""

    code: OneTimeCode
    new_password: NewPassword
    device: DeviceIn
    device_key: DeviceKey | None = None
    otp: SecondFactorCode | None = None


class SecondFactorEnrolIn(Input, kw_only=True):
    """Start setting up the authenticator app: the password proves who asks."""

    email: Email
    password: Password


class SecondFactorConfirmIn(Input, kw_only=True):
    """The first code the app shows for the new secret: it puts the secret in force and signs in."""

    email: Email
    password: Password
    otp: SecondFactorCode
    device: DeviceIn
    device_key: DeviceKey | None = None


class SamlPostIn(Input, kw_only=True, rename={"saml_response": "SAMLResponse", "relay_state": "RelayState"}):
    """What the identity provider's page posts back to the assertion consumer service."""

    saml_response: Annotated[str, Meta(min_length=1, max_length=200_000)]
    relay_state: Annotated[str, Meta(max_length=200)] = ""


class SignInSettingsIn(Input, kw_only=True):
    """`off`: the organisation's people sign in only through its identity provider."""

    password_sign_in: Literal["second_factor", "off"]


class PushTokenIn(Input, kw_only=True):
    """`null` clears the token: the phone no longer wants notifications."""

    push_token: PushToken | None


class UserCreate(Input, kw_only=True):
    """A new user chooses her own password: she is mailed a one-time code (`POST /auth/password`)."""

    email: Email
    full_name: Name
    role: Role
    organisation_id: uuid.UUID
    district_ids: DistrictIds = []
    phone: Phone | None = None
    mobile: Mobile | None = None
    palliative_skilled: bool = False


class UserUpdate(Input, kw_only=True):
    """PATCH: only the fields sent change. The organisation is fixed; create a new user to move."""

    full_name: Name | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    district_ids: DistrictIds | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    mobile: Mobile | UnsetType | None = UNSET
    palliative_skilled: bool | UnsetType = UNSET


# ---- answers ----------------------------------------------------------------------------------


class SessionUser(Struct, kw_only=True):
    id: uuid.UUID
    full_name: str
    role: Role
    organisation_id: uuid.UUID
    language: str


class TokenOut(Struct, kw_only=True):
    """The answer to a login or a refresh. Keep the refresh token in the phone's secure storage."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    device_id: uuid.UUID
    user: SessionUser


class SecondFactorEnrolment(Struct, kw_only=True):
    """The new secret, shown this once: add it to an authenticator app (scan the URI as a QR code, or
    type the secret), then confirm with the app's first code."""

    otpauth_uri: str
    secret: str


class SecondFactorConfirmed(Struct, kw_only=True):
    """Recovery codes, shown this once (each signs in once instead of the app's code), and the session."""

    recovery_codes: list[str]
    # Null when her password must still be changed: log in with new_password and a code.
    session: TokenOut | None


class SignInSettings(Struct, kw_only=True):
    organisation_id: uuid.UUID
    # `second_factor`: passwords, with a code for admins and coordinators; `off`: only the identity
    # provider; `password_alone`: the demo's published logins (no endpoint sets it).
    password_sign_in: PasswordSignIn
    # Switching passwords off signs out every device her people signed in with a password.
    devices_signed_out: int = 0


class OrganisationOut(Struct, kw_only=True):
    id: uuid.UUID
    kind: OrganisationKind
    name: str
    # A district's municipality; null for the others.
    parent_id: uuid.UUID | None


class StaffOut(Struct, kw_only=True):
    """A colleague as the board names them: who acknowledged, whom an alert called."""

    id: uuid.UUID
    full_name: str
    role: Role
    organisation_id: uuid.UUID
    district_ids: list[uuid.UUID]
    palliative_skilled: bool


class MeOut(Struct, kw_only=True):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    organisation: OrganisationOut
    municipality_id: uuid.UUID | None
    district_ids: list[uuid.UUID]
    served_municipality_ids: list[uuid.UUID]
    phone: str | None
    # Masked (+45••••••78) everywhere but the administrator's GET /admin/users/{user_id}.
    mobile: str | None
    palliative_skilled: bool
    language: str


class DeviceOut(Struct, kw_only=True):
    id: uuid.UUID
    platform: Platform
    app_version: str
    has_push_token: bool
    # The device this request came from.
    current: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None


class UserOut(Struct, kw_only=True):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    organisation_id: uuid.UUID
    district_ids: list[uuid.UUID]
    phone: str | None
    # Masked (+45••••••78) everywhere but the administrator's GET /admin/users/{user_id}.
    mobile: str | None
    palliative_skilled: bool
    language: str
    created_at: datetime
    deleted_at: datetime | None
    # True while she cannot sign in yet: invited or reset, until she redeems the code she was mailed.
    awaiting_code: bool
    # Only in the answer to a create: how the invitation was sent.
    invitation: CodeSent | None = None


class CodeSent(Struct, kw_only=True):
    """A one-time code went to the user (an invitation or a reset). The code is in the mail only."""

    user_id: uuid.UUID
    purpose: CodePurpose
    # "email": handed to the mail server for the user's address. "operator_file": no mail server is
    # configured, so the mail waits in the server's data folder (outbox/) for the operator to pass on.
    delivery: Delivery
    expires_at: datetime
    # Signed-in devices of the user signed out by this request (a reset ends every session).
    devices_revoked: int


class DevicesRevoked(Struct, kw_only=True):
    user_id: uuid.UUID
    # How many signed-in devices were signed out by this request.
    revoked: int
