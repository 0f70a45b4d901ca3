"""Whom an administrator manages: tenancy for user administration and the audit log.

There are two kinds of administrator, one for each kind of organisation that employs people:

- A municipality's administrator (her organisation is the municipality or one of its districts)
  manages its nurses, coordinators, key persons and administrators: the users whose organisation
  is the municipality or one of its districts. She reads the audit entries about its cases, and
  those by and about its users.
- A provider's administrator (her organisation is a palliative unit or a regional palliative
  team) manages that organisation's staff (role `palliative_unit`) and its other administrators,
  and reads the audit entries by and about them, in every municipality they serve.

A provider serves several municipalities, and its staff read the referred cases of all of them:
so no municipality's administrator may create, see, change or delete a provider's users, or she
could open her neighbours' records by minting a login. The provider's first administrator (like a
new municipality's) is created by the operator: `lindra admin create --organisation <id> ...`.
No administrator reads health records (see `backend.cases.access`).

E-mail addresses are the one global key: they are the login, so an address has one live account
in all of Lindra. An administrator who picks an address in use anywhere gets the same 409 whether
the account is hers, her neighbour's or a provider's, computed after the same password hashing,
and learns nothing else about it (that the address is taken cannot be hidden: she must choose
another). The row is inserted with ON CONFLICT DO NOTHING, so a clash never becomes a unique
violation whose error would write the address into PostgreSQL's log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.models import Organisation, OrganisationKind, Role, User

MUNICIPAL_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.ADMIN})
PROVIDER_ROLES = frozenset({Role.PALLIATIVE_UNIT, Role.ADMIN})


@dataclass(frozen=True)
class Administered:
    """The organisations an administrator answers for, and the roles she may give."""

    organisation_id: uuid.UUID
    # Her municipality; None for a provider's administrator.
    municipality_id: uuid.UUID | None

    @property
    def roles(self) -> frozenset[Role]:
        return MUNICIPAL_ROLES if self.municipality_id is not None else PROVIDER_ROLES

    def organisations(self) -> ColumnElement[bool]:
        """Her organisations, as a condition over `Organisation`."""
        if self.municipality_id is None:
            return Organisation.id == self.organisation_id
        return or_(Organisation.id == self.municipality_id, Organisation.parent_id == self.municipality_id)

    def user_ids(self) -> Select[uuid.UUID]:
        """Every user of her organisations, deleted ones too (their audit trail stays hers)."""
        return select(User.id).join(Organisation, Organisation.id == User.organisation_id).where(self.organisations())


def administered(actor: Actor) -> Administered:
    """An administrator's reach: her municipality, or else the provider she works for.

    A user whose organisation is neither a municipality nor a district is a provider's (the actor
    carries no municipality for her)."""
    return Administered(organisation_id=actor.organisation_id, municipality_id=actor.municipality_id)


async def managed_user(session: AsyncSession, reach: Administered, user_id: uuid.UUID) -> User:
    """A live user the administrator manages, locked for the change; otherwise 404 (not 403: a
    user elsewhere is not hers to know of)."""
    user = await session.scalar(
        select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == user_id, User.deleted_at.is_(None), reach.organisations())
        .with_for_update(of=User)
    )
    if user is None:
        raise not_found("user")
    return user


async def check_role_and_organisation(
    session: AsyncSession, reach: Administered, role: Role, organisation_id: uuid.UUID
) -> None:
    """A municipality's administrator gives municipal roles in her municipality or its districts;
    a provider's administrator gives the provider's roles in her own organisation only."""
    if role not in reach.roles:
        detail = (
            "Palliative unit and regional team staff are managed by their own organisation's administrator."
            if reach.municipality_id is not None
            else "A palliative unit's or team's administrator manages only its staff and administrators."
        )
        raise Problem(422, "Role not allowed", detail, field="role", rule="role_of_your_organisation")
    ours = await session.scalar(
        select(Organisation.id).where(Organisation.id == organisation_id, reach.organisations())
    )
    if ours is None:
        where = (
            "your municipality or one of its districts" if reach.municipality_id is not None else "your organisation"
        )
        raise Problem(
            422,
            "Organisation not allowed",
            f"A {role.value} must belong to {where}.",
            field="organisation_id",
            rule="organisation_is_yours",
        )


async def checked_districts(
    session: AsyncSession, reach: Administered, district_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """The districts, once each, if every one is a district of her municipality (a provider has none)."""
    wanted = list(dict.fromkeys(district_ids))
    found = set(
        await session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_(wanted),
                Organisation.kind == OrganisationKind.DISTRICT,
                Organisation.parent_id == reach.municipality_id if reach.municipality_id is not None else false(),
            )
        )
    )
    if found != set(wanted):
        raise Problem(
            422,
            "District not allowed",
            "Every district must be one of your municipality's districts."
            if reach.municipality_id is not None
            else "A palliative unit's or team's staff work in no municipality's districts.",
            field="district_ids",
            rule="district_in_municipality",
        )
    return wanted


def email_taken() -> Problem:
    """The one answer to an address in use, whoever holds it."""
    return Problem(
        409, "E-mail in use", "Another user already has this e-mail address.", field="email", rule="unique_email"
    )


async def insert_user(
    session: AsyncSession,
    *,
    email: str,
    password_hash: str | None,
    full_name: str,
    role: Role,
    organisation_id: uuid.UUID,
    phone: str | None,
    palliative_skilled: bool,
    now: datetime,
) -> User:
    """A new live user, or `email_taken` if a live account has the address (compared without case)."""
    created = await session.scalar(
        pg_insert(User)
        .values(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            role=role.value,
            organisation_id=organisation_id,
            phone=phone,
            palliative_skilled=palliative_skilled,
            language="da",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[func.lower(User.email)], index_where=User.deleted_at.is_(None))
        .returning(User.id)
    )
    if created is None:
        raise email_taken()
    return await session.get_one(User, created)
