"""What a municipality's administrator sets: her provider, the meaning of its claims, and who is stopped.

Only a municipality's administrator (a provider's staff sign in by password). Every change is
audited in the same transaction; the client secret is sealed and never answered.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import record
from backend.config import Settings
from backend.errors import Problem, not_found
from backend.people.actor import Actor
from backend.people.administered import MUNICIPAL_ROLES, administered, checked_districts, managed_user
from backend.people.auth import revoke_devices
from backend.people.federation import schemas as s
from backend.people.federation.discovery import ProviderDirectory, ProviderUnavailable
from backend.people.federation.models import FederationMapping, OidcProvider
from backend.people.federation.oidc import board_redirect_uri
from backend.people.federation.sealed import seal
from backend.people.models import Role


def _municipality(actor: Actor) -> uuid.UUID:
    if actor.municipality_id is None:
        raise Problem(
            403,
            "Not a municipality's administrator",
            "Only a municipality's administrator sets how its staff sign in.",
            rule="municipality_admin",
        )
    return actor.municipality_id


def _provider_out(settings: Settings, row: OidcProvider) -> s.OidcProviderOut:
    return s.OidcProviderOut(
        issuer=row.issuer,
        client_id=row.client_id,
        scopes=row.scopes,
        board_redirect_uri=board_redirect_uri(settings),
        app_redirect_uri=settings.oidc_app_redirect_uri,
        backchannel_logout_uri=f"{settings.public_url}/auth/oidc/backchannel-logout/{row.municipality_id}",
    )


async def get_provider(session: AsyncSession, settings: Settings, actor: Actor) -> s.OidcProviderOut:
    row = await session.get(OidcProvider, _municipality(actor))
    if row is None:
        raise not_found("identity provider")
    return _provider_out(settings, row)


def _check_issuer(issuer: str) -> None:
    """https, or http on this machine only (a provider in a test)."""
    parts = urlsplit(issuer)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" or local) or not parts.hostname or parts.query or parts.fragment:
        raise Problem(422, "Invalid issuer", "The issuer is the provider's https URL.", field="issuer", rule="https")


async def set_provider(
    session: AsyncSession, settings: Settings, directory: ProviderDirectory, actor: Actor, data: s.OidcProviderIn
) -> s.OidcProviderOut:
    """Where the municipality's staff sign in; the provider must answer its discovery document."""
    municipality_id = _municipality(actor)
    _check_issuer(data.issuer)
    if "openid" not in data.scopes.split():
        raise Problem(422, "Scope missing", "The scopes must include openid.", field="scopes", rule="openid")
    try:
        await directory.metadata(data.issuer)
    except ProviderUnavailable:
        raise Problem(
            422, "Issuer not reachable", "The issuer's discovery document could not be read.", field="issuer"
        ) from None
    values = {
        "issuer": data.issuer,
        "client_id": data.client_id,
        "client_secret_sealed": seal(settings.secret_key, data.client_secret),
        "scopes": data.scopes,
    }
    await session.execute(
        pg_insert(OidcProvider)
        .values(municipality_id=municipality_id, **values)
        .on_conflict_do_update(index_elements=[OidcProvider.municipality_id], set_=values)
    )
    await record(session, actor, "federation.provider.set", detail={"issuer": data.issuer})
    row = await session.get_one(OidcProvider, municipality_id, populate_existing=True)
    return _provider_out(settings, row)


def _mapping_out(row: FederationMapping) -> s.MappingOut:
    return s.MappingOut(
        id=row.id,
        provider=row.provider,
        claim=row.claim,
        role=Role(row.role) if row.role else None,
        district_ids=list(row.district_ids),
    )


async def list_mappings(session: AsyncSession, actor: Actor) -> list[s.MappingOut]:
    rows = await session.scalars(
        select(FederationMapping)
        .where(FederationMapping.municipality_id == _municipality(actor))
        .order_by(FederationMapping.provider, FederationMapping.claim)
    )
    return [_mapping_out(row) for row in rows]


async def set_mapping(session: AsyncSession, actor: Actor, data: s.MappingIn) -> s.MappingOut:
    """What a claim means from the next sign-in or refresh on (replacing its earlier meaning)."""
    municipality_id = _municipality(actor)
    if data.role is not None and data.role not in MUNICIPAL_ROLES:
        raise Problem(422, "Role not allowed", "A municipality maps only to municipal roles.", field="role")
    districts = await checked_districts(session, administered(actor), data.district_ids)
    if data.role is None and not districts:
        raise Problem(
            422, "Nothing mapped", "Map the claim to a role, to districts, or both.", field="role", rule="required"
        )
    values = {"role": data.role.value if data.role else None, "district_ids": districts}
    mapping_id = await session.scalar(
        pg_insert(FederationMapping)
        .values(id=uuid.uuid4(), municipality_id=municipality_id, provider=data.provider, claim=data.claim, **values)
        .on_conflict_do_update(constraint="uq_federation_mappings_claim_once", set_=values)
        .returning(FederationMapping.id)
    )
    row = await session.get_one(FederationMapping, mapping_id, populate_existing=True)
    await record(session, actor, "federation.mapping.set", detail={"mapping_id": str(row.id), "role": values["role"]})
    return _mapping_out(row)


async def delete_mapping(session: AsyncSession, actor: Actor, mapping_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(FederationMapping).where(
            FederationMapping.id == mapping_id, FederationMapping.municipality_id == _municipality(actor)
        )
    )
    if row is None:
        raise not_found("mapping")
    await session.delete(row)
    await record(session, actor, "federation.mapping.delete", detail={"mapping_id": str(mapping_id)})


async def set_disabled(
    session: AsyncSession, actor: Actor, now: datetime, user_id: uuid.UUID, disabled: bool
) -> s.UserStopped:
    """Stop a person (every device signed out at once, no sign-in or refresh until enabled), or let her in again."""
    user = await managed_user(session, administered(actor), user_id)
    if user.id == actor.user_id:
        raise Problem(409, "Own account", "You cannot disable your own account.", rule="not_self")
    revoked: list[uuid.UUID] = []
    if disabled and user.disabled_at is None:
        user.disabled_at = now
        revoked = await revoke_devices(session, now, "user_disabled", user_id=user.id)
    elif not disabled:
        user.disabled_at = None
    await session.flush()
    await record(
        session,
        actor,
        "user.disable" if disabled else "user.enable",
        subject_user_id=user.id,
        detail={"devices_revoked": len(revoked)},
    )
    return s.UserStopped(user_id=user.id, disabled_at=user.disabled_at, devices_revoked=len(revoked))
