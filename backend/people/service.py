"""People: one's own profile and devices, the organisations one works with, and user administration.

An administrator manages the users of her municipality (the municipality and its districts) and
never reads health records; every change she makes is written to the audit log in the same
transaction. Logging in and tokens live in `backend.people.auth`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime

from msgspec import UNSET
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import record
from backend.errors import Problem, not_found
from backend.people import schemas as s
from backend.people.actor import Actor
from backend.people.auth import hash_password, normalised_email, release_push_token, revoke_devices
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


def _admin_municipality(actor: Actor) -> uuid.UUID:
    if actor.municipality_id is None:
        raise Problem(403, "Forbidden", "Only a municipality's administrator manages users.", rule="municipality")
    return actor.municipality_id


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


def _user_out(user: User, district_ids: list[uuid.UUID]) -> s.UserOut:
    return s.UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        district_ids=district_ids,
        phone=user.phone,
        palliative_skilled=user.palliative_skilled,
        language=user.language,
        created_at=user.created_at,
        deleted_at=user.deleted_at,
    )


async def list_users(session: AsyncSession, actor: Actor) -> list[s.UserOut]:
    """The users of the administrator's municipality and its districts, by name; deleted ones left out."""
    municipality = _admin_municipality(actor)
    users = list(
        await session.scalars(
            select(User)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(
                or_(Organisation.id == municipality, Organisation.parent_id == municipality),
                User.deleted_at.is_(None),
            )
            .order_by(User.full_name, User.id)
        )
    )
    districts = await _district_ids(session, [u.id for u in users])
    return [_user_out(u, districts.get(u.id, [])) for u in users]


async def _managed_user(session: AsyncSession, municipality: uuid.UUID, user_id: uuid.UUID) -> User:
    """A live user of the administrator's municipality, locked for the change; otherwise 404."""
    user = await session.scalar(
        select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            User.id == user_id,
            User.deleted_at.is_(None),
            or_(Organisation.id == municipality, Organisation.parent_id == municipality),
        )
        .with_for_update(of=User)
    )
    if user is None:
        raise not_found("user")
    return user


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


async def _check_organisation(
    session: AsyncSession, municipality: uuid.UUID, role: Role, organisation_id: uuid.UUID, field: str
) -> None:
    """Palliative unit staff belong to a unit serving the municipality; everyone else to the
    municipality itself or one of its districts."""
    organisation = await session.get(Organisation, organisation_id)
    if role is Role.PALLIATIVE_UNIT:
        serves = await session.scalar(
            select(OrganisationServes.provider_id).where(
                OrganisationServes.provider_id == organisation_id,
                OrganisationServes.municipality_id == municipality,
            )
        )
        if organisation is None or organisation.kind != OrganisationKind.PALLIATIVE_UNIT or serves is None:
            raise Problem(
                422,
                "Organisation not allowed",
                "Palliative unit staff must belong to a palliative unit that serves your municipality.",
                field=field,
                rule="unit_serves_municipality",
            )
        return
    ours = organisation is not None and (
        organisation.id == municipality
        or (organisation.kind == OrganisationKind.DISTRICT and organisation.parent_id == municipality)
    )
    if not ours:
        raise Problem(
            422,
            "Organisation not allowed",
            f"A {role.value} must belong to your municipality or one of its districts.",
            field=field,
            rule="organisation_in_municipality",
        )


async def _checked_districts(
    session: AsyncSession, municipality: uuid.UUID, district_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(district_ids))
    found = set(
        await session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_(wanted),
                Organisation.kind == OrganisationKind.DISTRICT,
                Organisation.parent_id == municipality,
            )
        )
    )
    if found != set(wanted):
        raise Problem(
            422,
            "District not allowed",
            "Every district must be one of your municipality's districts.",
            field="district_ids",
            rule="district_in_municipality",
        )
    return wanted


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


def _email_taken() -> Problem:
    return Problem(
        409, "E-mail in use", "Another user already has this e-mail address.", field="email", rule="unique_email"
    )


async def create_user(session: AsyncSession, actor: Actor, now: datetime, data: s.UserCreate) -> s.UserOut:
    """Add a user to the administrator's municipality, after checking where she may work."""
    municipality = _admin_municipality(actor)
    email = normalised_email(data.email)
    _check_email(email)
    full_name = _clean_name(data.full_name)
    await _check_organisation(session, municipality, data.role, data.organisation_id, "organisation_id")
    districts = await _checked_districts(session, municipality, data.district_ids)
    _check_nurse_districts(data.role, districts)
    if await session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise _email_taken()
    user = User(
        email=email,
        password_hash=await hash_password(data.password),
        full_name=full_name,
        role=data.role.value,
        organisation_id=data.organisation_id,
        phone=data.phone,
        palliative_skilled=data.palliative_skilled,
        language="da",
        created_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same e-mail created at the same moment by someone else
        raise _email_taken() from exc
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
    municipality = _admin_municipality(actor)
    user = await _managed_user(session, municipality, user_id)
    changed: list[str] = []
    role = Role(user.role)
    if data.role is not UNSET and data.role is not role:
        if user.id == actor.user_id:
            raise Problem(409, "Own role", "You cannot change your own role.", field="role", rule="not_self")
        await _check_organisation(session, municipality, data.role, user.organisation_id, "role")
        role = data.role
        user.role = role.value
        changed.append("role")
    districts = (await _district_ids(session, [user.id])).get(user.id, [])
    if data.district_ids is not UNSET:
        districts = await _checked_districts(session, municipality, data.district_ids)
        await _set_districts(session, user.id, districts)
        changed.append("district_ids")
    _check_nurse_districts(role, districts)
    if data.full_name is not UNSET:
        user.full_name = _clean_name(data.full_name)
        changed.append("full_name")
    if data.phone is not UNSET:
        user.phone = data.phone
        changed.append("phone")
    if data.palliative_skilled is not UNSET:
        user.palliative_skilled = data.palliative_skilled
        changed.append("palliative_skilled")
    if data.password is not UNSET:
        user.password_hash = await hash_password(data.password)
        changed.append("password")
    await session.flush()
    await record(session, actor, "user.update", subject_user_id=user.id, detail={"fields": changed})
    return _user_out(user, districts)


async def delete_user(session: AsyncSession, actor: Actor, now: datetime, user_id: uuid.UUID) -> s.UserOut:
    """Soft delete: the row stays for the audit trail and the cases that name her, but she can no
    longer log in and every device she has is signed out at once."""
    municipality = _admin_municipality(actor)
    user = await _managed_user(session, municipality, user_id)
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
    municipality = _admin_municipality(actor)
    user = await _managed_user(session, municipality, user_id)
    revoked = await revoke_devices(session, now, "admin_revoked", user_id=user.id)
    await record(
        session, actor, "user.devices.revoke", subject_user_id=user.id, detail={"devices_revoked": len(revoked)}
    )
    return s.DevicesRevoked(user_id=user.id, revoked=len(revoked))
