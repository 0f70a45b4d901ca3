"""People: one's own profile and devices, the organisations one works with, and user administration.

An administrator manages the users of her municipality (the municipality and its districts), or
of the palliative unit or team she works for, and never reads health records (whom she manages:
`backend.people.administered`); every change she makes is written to the audit log in the same
transaction. Logging in and tokens live in `backend.people.auth`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime

from msgspec import UNSET
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import record
from backend.errors import Problem, not_found
from backend.people import schemas as s
from backend.people.actor import Actor
from backend.people.administered import (
    administered,
    check_role_and_organisation,
    checked_districts,
    insert_user,
    managed_user,
)
from backend.people.auth import normalised_email, release_push_token, revoke_devices
from backend.people.mobile import checked_mobile, masked
from backend.people.models import (
    Device,
    Organisation,
    OrganisationKind,
    OrganisationServes,
    Platform,
    Role,
    User,
    UserDistrict,
)

# Deliberately loose: the shape of an address, not a verdict on it (the mail server has that).
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KIND_ORDER = {kind: i for i, kind in enumerate(OrganisationKind)}


# ---- one's own profile, devices and organisations ----------------------------------------------


async def profile(session: AsyncSession, actor: Actor) -> s.MeOut:
    """What the app shows as 'me', and what it needs to decide which screens to offer."""
    user = await session.get_one(User, actor.user_id)
    organisation = await session.get_one(Organisation, user.organisation_id)
    return s.MeOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=Role(user.role),
        organisation=_organisation_out(organisation),
        municipality_id=actor.municipality_id,
        district_ids=list(actor.district_ids),
        served_municipality_ids=list(actor.served_municipality_ids),
        phone=user.phone,
        mobile=masked(user.mobile),
        palliative_skilled=user.palliative_skilled,
        language=user.language,
    )


def _device_out(device: Device, actor: Actor) -> s.DeviceOut:
    return s.DeviceOut(
        id=device.id,
        platform=Platform(device.platform),
        app_version=device.app_version,
        has_push_token=device.push_token is not None,
        current=device.id == actor.device_id,
        created_at=device.created_at,
        last_used_at=device.last_used_at,
        revoked_at=device.revoked_at,
        revoked_reason=device.revoked_reason,
    )


async def list_devices(session: AsyncSession, actor: Actor, now: datetime, include_revoked: bool) -> list[s.DeviceOut]:
    """Where am I signed in? So that a lost phone can be found in the list and signed out."""
    query = (
        select(Device)
        .where(Device.user_id == actor.user_id)
        .order_by(Device.last_used_at.desc().nulls_last(), Device.created_at.desc())
        .limit(200)
    )
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None), Device.refresh_expires_at > now)
    return [_device_out(device, actor) for device in await session.scalars(query)]


async def revoke_own_device(session: AsyncSession, actor: Actor, now: datetime, device_id: uuid.UUID) -> s.DeviceOut:
    """Sign out one of my devices (the lost phone). Revoking one already revoked changes nothing."""
    device = await session.scalar(select(Device).where(Device.id == device_id, Device.user_id == actor.user_id))
    if device is None:
        raise not_found("device")
    await revoke_devices(session, now, "user_revoked", device_id=device.id)
    await session.refresh(device)
    return _device_out(device, actor)


async def set_push_token(session: AsyncSession, actor: Actor, push_token: str | None) -> s.DeviceOut:
    """Where this device's alerts go. FCM may hand the app a new token at any time."""
    if push_token is not None:
        await release_push_token(session, push_token, keep=actor.device_id)
    device = await session.get_one(Device, actor.device_id)
    device.push_token = push_token
    await session.flush()
    return _device_out(device, actor)


def _organisation_out(organisation: Organisation) -> s.OrganisationOut:
    return s.OrganisationOut(
        id=organisation.id,
        kind=OrganisationKind(organisation.kind),
        name=organisation.name,
        parent_id=organisation.parent_id,
    )


async def organisations(session: AsyncSession, actor: Actor) -> list[s.OrganisationOut]:
    """The organisations one works with: one's municipality (for a palliative unit or team, the
    municipalities it serves), their districts, the palliative teams and units serving them."""
    municipalities = [actor.municipality_id] if actor.municipality_id else list(actor.served_municipality_ids)
    providers = select(OrganisationServes.provider_id).where(OrganisationServes.municipality_id.in_(municipalities))
    query = select(Organisation).where(
        or_(
            Organisation.id.in_(municipalities),
            Organisation.parent_id.in_(municipalities),
            Organisation.id.in_(providers),
            Organisation.id == actor.organisation_id,
        )
    )
    found = list(await session.scalars(query))
    found.sort(key=lambda o: (_KIND_ORDER.get(OrganisationKind(o.kind), 9), o.name))
    return [_organisation_out(o) for o in found]


async def staff(session: AsyncSession, actor: Actor) -> list[s.StaffOut]:
    """The people one works with, named: the staff of the organisations `organisations` lists."""
    organisations_seen = [o.id for o in await organisations(session, actor)]
    users = list(
        await session.scalars(
            select(User)
            .where(User.organisation_id.in_(organisations_seen), User.deleted_at.is_(None))
            .order_by(User.full_name, User.id)
        )
    )
    districts = await _district_ids(session, [u.id for u in users])
    return [
        s.StaffOut(
            id=u.id,
            full_name=u.full_name,
            role=Role(u.role),
            organisation_id=u.organisation_id,
            district_ids=districts.get(u.id, []),
            palliative_skilled=u.palliative_skilled,
        )
        for u in users
    ]


# ---- user administration ----------------------------------------------------------------------


async def _district_ids(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(UserDistrict.user_id, UserDistrict.district_id)
        .where(UserDistrict.user_id.in_(list(user_ids)))
        .order_by(UserDistrict.district_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for user_id, district_id in rows:
        found.setdefault(user_id, []).append(district_id)
    return found


def _user_out(user: User, district_ids: list[uuid.UUID], *, whole_mobile: bool = False) -> s.UserOut:
    return s.UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        district_ids=district_ids,
        phone=user.phone,
        mobile=user.mobile if whole_mobile else masked(user.mobile),
        palliative_skilled=user.palliative_skilled,
        language=user.language,
        created_at=user.created_at,
        deleted_at=user.deleted_at,
        awaiting_code=user.password_hash is None,
    )


async def list_users(session: AsyncSession, actor: Actor) -> list[s.UserOut]:
    """The users the administrator manages, by name; deleted ones left out."""
    users = list(
        await session.scalars(
            select(User)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(administered(actor).organisations(), User.deleted_at.is_(None))
            .order_by(User.full_name, User.id)
        )
    )
    districts = await _district_ids(session, [u.id for u in users])
    return [_user_out(u, districts.get(u.id, [])) for u in users]


async def get_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> s.UserOut:
    """The administrator's page of one user she manages: the one answer with the whole mobile number."""
    user = await managed_user(session, administered(actor), user_id)
    districts = (await _district_ids(session, [user.id])).get(user.id, [])
    return _user_out(user, districts, whole_mobile=True)


def _clean_name(full_name: str) -> str:
    name = " ".join(full_name.split())
    if not name:
        raise Problem(422, "Name missing", "The full name cannot be blank.", field="full_name", rule="required")
    return name


def _check_email(email: str) -> None:
    if not _EMAIL_SHAPE.match(email):
        raise Problem(
            422, "Invalid e-mail", "This does not look like an e-mail address.", field="email", rule="email_shape"
        )


def _check_nurse_districts(role: Role, district_ids: list[uuid.UUID]) -> None:
    if role is Role.NURSE and not district_ids:
        raise Problem(
            422,
            "District missing",
            "A nurse works in at least one district: her visits and alerts follow it.",
            field="district_ids",
            rule="nurse_needs_district",
        )


async def _set_districts(session: AsyncSession, user_id: uuid.UUID, district_ids: list[uuid.UUID]) -> None:
    await session.execute(delete(UserDistrict).where(UserDistrict.user_id == user_id))
    session.add_all([UserDistrict(user_id=user_id, district_id=d) for d in district_ids])


async def create_user(session: AsyncSession, actor: Actor, now: datetime, data: s.UserCreate) -> s.UserOut:
    """Add a user to an organisation the administrator manages, after checking where she may work.

    An address in use anywhere gets one answer, after the same work as a free one (see
    `backend.people.administered`)."""
    reach = administered(actor)
    email = normalised_email(data.email)
    _check_email(email)
    full_name = _clean_name(data.full_name)
    await check_role_and_organisation(session, reach, data.role, data.organisation_id)
    districts = await checked_districts(session, reach, data.district_ids)
    _check_nurse_districts(data.role, districts)
    user = await insert_user(
        session,
        email=email,
        password_hash=None,  # she chooses it herself with the code she is mailed (backend.people.codes)
        full_name=full_name,
        role=data.role,
        organisation_id=data.organisation_id,
        phone=data.phone,
        palliative_skilled=data.palliative_skilled,
        now=now,
    )
    user.mobile = checked_mobile(data.mobile)
    await _set_districts(session, user.id, districts)
    await record(
        session,
        actor,
        "user.create",
        subject_user_id=user.id,
        detail={"role": data.role.value, "organisation_id": str(data.organisation_id)},
    )
    return _user_out(user, districts)


async def update_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, data: s.UserUpdate) -> s.UserOut:
    """Change what was sent, nothing else. An administrator cannot change her own role."""
    reach = administered(actor)
    user = await managed_user(session, reach, user_id)
    changed: list[str] = []
    role = Role(user.role)
    if data.role is not UNSET and data.role is not role:
        if user.id == actor.user_id:
            raise Problem(409, "Own role", "You cannot change your own role.", field="role", rule="not_self")
        await check_role_and_organisation(session, reach, data.role, user.organisation_id)
        role = data.role
        user.role = role.value
        changed.append("role")
    districts = (await _district_ids(session, [user.id])).get(user.id, [])
    if data.district_ids is not UNSET:
        districts = await checked_districts(session, reach, data.district_ids)
        await _set_districts(session, user.id, districts)
        changed.append("district_ids")
    _check_nurse_districts(role, districts)
    if data.full_name is not UNSET:
        user.full_name = _clean_name(data.full_name)
        changed.append("full_name")
    if data.phone is not UNSET:
        user.phone = data.phone
        changed.append("phone")
    if data.mobile is not UNSET:
        user.mobile = checked_mobile(data.mobile)
        changed.append("mobile")
    if data.palliative_skilled is not UNSET:
        user.palliative_skilled = data.palliative_skilled
        changed.append("palliative_skilled")
    await session.flush()
    await record(session, actor, "user.update", subject_user_id=user.id, detail={"fields": changed})
    return _user_out(user, districts)


async def delete_user(session: AsyncSession, actor: Actor, now: datetime, user_id: uuid.UUID) -> s.UserOut:
    """Soft delete: the row stays for the audit trail and the cases that name her, but she can no
    longer log in and every device she has is signed out at once."""
    user = await managed_user(session, administered(actor), user_id)
    if user.id == actor.user_id:
        raise Problem(409, "Own account", "You cannot delete your own account.", rule="not_self")
    user.deleted_at = now
    revoked = await revoke_devices(session, now, "user_deleted", user_id=user.id)
    await session.flush()
    await record(session, actor, "user.delete", subject_user_id=user.id, detail={"devices_revoked": len(revoked)})
    districts = (await _district_ids(session, [user.id])).get(user.id, [])
    return _user_out(user, districts)


async def revoke_user_devices(
    session: AsyncSession, actor: Actor, now: datetime, user_id: uuid.UUID
) -> s.DevicesRevoked:
    """Sign a user out everywhere (a lost phone she cannot name, a shared password)."""
    user = await managed_user(session, administered(actor), user_id)
    revoked = await revoke_devices(session, now, "admin_revoked", user_id=user.id)
    await record(
        session, actor, "user.devices.revoke", subject_user_id=user.id, detail={"devices_revoked": len(revoked)}
    )
    return s.DevicesRevoked(user_id=user.id, revoked=len(revoked))
