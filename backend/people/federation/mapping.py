"""From who the provider says signed in to a Lindra user: the municipality's mapping decides.

An administrator maps each group or role claim of her municipality's provider to a Lindra role
and districts (`backend.people.federation.admin`). At every sign-in and every refresh (SAML: every
sign-in; it has no refresh at the provider) the person's claims are read through the mapping
again, so a changed group takes effect at once:
- Several mapped claims: the strongest role among them (administrator, coordinator, key person,
  nurse) and the districts of all of them. A claim mapped without a role (a data restriction)
  only adds districts.
- No claim mapped to a role, or a nurse with no district: refused, with nothing created.
- A first mapped sign-in creates the user (just in time) in the municipality, or links a
  local account of the same municipality with the same e-mail that has no link yet.
- A person disabled or deleted in Lindra stays out, whatever the provider says.
Every account made, linked or changed this way is audited as the provider's doing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import record
from backend.errors import Problem
from backend.people.actor import SystemActor, SystemRole
from backend.people.administered import insert_user
from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.models import FederatedLink, FederationMapping
from backend.people.models import Organisation, Role, User, UserDistrict

# Strongest first: the role a person gets when several of her groups are mapped.
ROLE_RANK = (Role.ADMIN, Role.COORDINATOR, Role.KEY_PERSON, Role.NURSE)


@dataclass(frozen=True)
class Refusal:
    """Why a person the provider vouched for does not get in. `reason` is one of:
    "unmapped" (no claim of hers is mapped to a role), "no_district" (a nurse mapped to no
    district), "disabled" (disabled or deleted in Lindra), "email_taken" (another account has
    her address), "expired" (signed in through SAML longer ago than the provider's session lasts)."""

    reason: str

    def problem(self) -> Problem:
        """The answer a client shows: the same words whoever she is, naming no one."""
        detail = {
            "unmapped": "Your groups at your municipality's sign-in give you no access to Lindra. Ask your "
            "Lindra administrator to map one of them.",
            "no_district": "Your groups give you a nurse's access but no district. Ask your Lindra administrator.",
            "disabled": "Your access to Lindra has been stopped. Ask your Lindra administrator.",
            "email_taken": "Your e-mail address belongs to another Lindra account. Ask your Lindra administrator.",
            "expired": "Your sign-in at your municipality has run out. Sign in there again.",
        }[self.reason]
        return Problem(403, "No access to Lindra", detail, rule=f"federation_{self.reason}")


@dataclass(frozen=True)
class Granted:
    role: Role
    district_ids: tuple[uuid.UUID, ...]


def provider_actor(municipality_id: uuid.UUID, request_id: str) -> SystemActor:
    return SystemActor(client_id=municipality_id, role=SystemRole.IDENTITY_PROVIDER, request_id=request_id)


async def granted(session: AsyncSession, identity: FederatedIdentity) -> Granted | Refusal:
    """What the mapping gives this person now."""
    claims = [*identity.groups, *identity.districts]
    rows = list(
        await session.scalars(
            select(FederationMapping).where(
                FederationMapping.municipality_id == identity.municipality_id,
                FederationMapping.provider == identity.provider,
                FederationMapping.claim.in_(claims),
            )
        )
    )
    roles = {Role(row.role) for row in rows if row.role is not None}
    role = next((r for r in ROLE_RANK if r in roles), None)
    if role is None:
        return Refusal("unmapped")
    districts = tuple(dict.fromkeys(d for row in rows for d in row.district_ids))
    if role is Role.NURSE and not districts:
        return Refusal("no_district")
    return Granted(role, districts)


async def _linked_user(session: AsyncSession, identity: FederatedIdentity) -> tuple[FederatedLink, User] | None:
    found = await session.execute(
        select(FederatedLink, User)
        .join(User, User.id == FederatedLink.user_id)
        .where(
            FederatedLink.municipality_id == identity.municipality_id,
            FederatedLink.provider == identity.provider,
            FederatedLink.subject == identity.subject,
        )
        .with_for_update(of=User)
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def _local_account(session: AsyncSession, identity: FederatedIdentity) -> User | None:
    """A live account of the municipality with her e-mail and no provider's link yet: hers."""
    if identity.email is None:
        return None
    return await session.scalar(
        select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(
            func.lower(User.email) == identity.email.strip().lower(),
            User.deleted_at.is_(None),
            or_(Organisation.id == identity.municipality_id, Organisation.parent_id == identity.municipality_id),
            ~select(FederatedLink.id).where(FederatedLink.user_id == User.id).exists(),
        )
        .with_for_update(of=User)
    )


def _address(identity: FederatedIdentity) -> str:
    """Her e-mail, or (a provider that sends none) an address that only says whose link it is."""
    if identity.email:
        return identity.email.strip().lower()
    return f"{uuid.uuid5(identity.municipality_id, identity.provider + ':' + identity.subject)}@federated.invalid"


async def apply_grant(
    session: AsyncSession, user: User, grant: Granted, identity: FederatedIdentity, request_id: str
) -> None:
    """Give her the mapping's role and districts if they changed, audited."""
    current = set(await session.scalars(select(UserDistrict.district_id).where(UserDistrict.user_id == user.id)))
    changed = [
        name
        for name, differs in (
            ("role", user.role != grant.role.value),
            ("district_ids", current != set(grant.district_ids)),
        )
        if differs
    ]
    if not changed:
        return
    user.role = grant.role.value
    await session.execute(delete(UserDistrict).where(UserDistrict.user_id == user.id))
    session.add_all([UserDistrict(user_id=user.id, district_id=d) for d in grant.district_ids])
    await session.flush()
    await record(
        session,
        provider_actor(identity.municipality_id, request_id),
        "user.federated.update",
        subject_user_id=user.id,
        detail={"fields": changed, "role": grant.role.value},
    )


async def sign_in_federated(
    session: AsyncSession, identity: FederatedIdentity, *, now: datetime | None = None, request_id: str = "federation"
) -> User | Refusal:
    """The Lindra user this person is, made or brought up to date by the mapping; or why not.

    Every way in calls this (OIDC here; SAML with `provider="saml"`, the job-function roles as
    `groups`, the data restrictions as `districts` and the NSIS level as `assurance`). The caller
    then issues Lindra's own device-bound tokens (`backend.people.auth.sign_in`); a refusal has
    written nothing, and `Refusal.problem()` (or `pages.refusal_page` for a browser) says why."""
    admitted = await admit(session, identity, now=now, request_id=request_id)
    return admitted if isinstance(admitted, Refusal) else admitted[0]


async def admit(
    session: AsyncSession, identity: FederatedIdentity, *, now: datetime | None = None, request_id: str = "federation"
) -> tuple[User, FederatedLink] | Refusal:
    """`sign_in_federated`, with the link between the provider's person and the user (to keep
    the provider's session beside the device)."""
    now = now or datetime.now(UTC)
    grant = await granted(session, identity)
    if isinstance(grant, Refusal):
        return grant
    actor = provider_actor(identity.municipality_id, request_id)
    linked = await _linked_user(session, identity)
    if linked is not None:
        link, user = linked
        if user.deleted_at is not None or user.disabled_at is not None:
            return Refusal("disabled")
        await apply_grant(session, user, grant, identity, request_id)
    else:
        user_or_none = await _local_account(session, identity)
        if user_or_none is not None and user_or_none.disabled_at is not None:
            return Refusal("disabled")
        if user_or_none is None:
            try:
                user_or_none = await insert_user(
                    session,
                    email=_address(identity),
                    password_hash=None,
                    full_name=" ".join((identity.display_name or "").split()) or "—",
                    role=grant.role,
                    organisation_id=identity.municipality_id,
                    phone=None,
                    palliative_skilled=False,
                    now=now,
                )
            except Problem:
                return Refusal("email_taken")
            action = "user.federated.create"
        else:
            action = "user.federated.link"
        user = user_or_none
        link = FederatedLink(
            user_id=user.id,
            municipality_id=identity.municipality_id,
            provider=identity.provider,
            subject=identity.subject,
        )
        session.add(link)
        await session.flush()
        await record(session, actor, action, subject_user_id=user.id, detail={"provider": identity.provider})
        await apply_grant(session, user, grant, identity, request_id)
    link.assurance = identity.assurance
    link.last_sign_in_at = now
    await session.flush()
    return user, link
