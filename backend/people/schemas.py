"""What goes over the wire for people and auth. Bodies refuse unknown fields; every string is bounded.

Token hashes never leave the server: device listings say whether a push token is set, not what it is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from backend.people.models import OrganisationKind, Platform, Role
from backend.wire import Input

Email = Annotated[str, Meta(min_length=3, max_length=254)]
# Login accepts any password up to the bound (argon2 of a megabyte is a denial of service).
Password = Annotated[str, Meta(min_length=1, max_length=200)]
NewPassword = Annotated[str, Meta(min_length=12, max_length=200)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Phone = Annotated[str, Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]
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


class RefreshIn(Input, kw_only=True):
    refresh_token: RefreshToken


class PushTokenIn(Input, kw_only=True):
    """`null` clears the token: the phone no longer wants notifications."""

    push_token: PushToken | None


class UserCreate(Input, kw_only=True):
    email: Email
    full_name: Name
    role: Role
    organisation_id: uuid.UUID
    district_ids: DistrictIds = []
    phone: Phone | None = None
    palliative_skilled: bool = False
    password: NewPassword


class UserUpdate(Input, kw_only=True):
    """PATCH: only the fields sent change. The organisation is fixed; create a new user to move."""

    full_name: Name | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    district_ids: DistrictIds | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    palliative_skilled: bool | UnsetType = UNSET
    password: NewPassword | UnsetType = UNSET


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
    palliative_skilled: bool
    language: str
    created_at: datetime
    deleted_at: datetime | None


class DevicesRevoked(Struct, kw_only=True):
    user_id: uuid.UUID
    # How many signed-in devices were signed out by this request.
    revoked: int
