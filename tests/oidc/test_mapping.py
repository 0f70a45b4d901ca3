"""The mapping every way in shares (OIDC, SAML): who a provider's person is in Lindra, and what
an administrator may map."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.people.federation.identity import FederatedIdentity
from backend.people.federation.mapping import Refusal, sign_in_federated
from backend.people.federation.models import FederationMapping
from backend.people.models import Role, User, UserDistrict
from tests.cases.helpers import Client
from tests.factories import World
from tests.oidc.conftest import users_of

Sessions = async_sessionmaker[AsyncSession]


def _saml(world: World, roles: tuple[str, ...], restrictions: tuple[str, ...] = ()) -> FederatedIdentity:
    """What the SAML side hands over: job-function roles and data restrictions from the privilege claim."""
    return FederatedIdentity(
        municipality_id=world.municipality_id,
        provider="saml",
        subject=f"CN=Test Person,Serial=CVR:{uuid.uuid4().hex[:8]}",
        email=None,
        display_name="Test Person",
        groups=roles,
        districts=restrictions,
        assurance="Substantial",
    )


async def test_job_function_roles_and_data_restrictions_make_a_nurse_of_her_district(
    sessions: Sessions, world: World
) -> None:
    async with sessions.begin() as session:
        session.add_all(
            [
                FederationMapping(
                    municipality_id=world.municipality_id, provider="saml", claim="sygeplejerske", role="nurse"
                ),
                FederationMapping(
                    municipality_id=world.municipality_id,
                    provider="saml",
                    claim="org-uuid-district-b",
                    role=None,
                    district_ids=[world.district_b],
                ),
            ]
        )
    identity = _saml(world, ("sygeplejerske",), ("org-uuid-district-b",))

    async with sessions.begin() as session:
        user = await sign_in_federated(session, identity)
        assert isinstance(user, User)
        districts = list(await session.scalars(select(UserDistrict.district_id).where(UserDistrict.user_id == user.id)))

    assert (user.role, districts) == (Role.NURSE.value, [world.district_b])
    async with sessions.begin() as session:  # the same person again: the same user
        again = await sign_in_federated(session, identity)
    assert isinstance(again, User) and again.id == user.id


async def test_a_nurse_role_without_a_district_is_refused_and_nothing_is_made(sessions: Sessions, world: World) -> None:
    async with sessions.begin() as session:
        session.add(
            FederationMapping(
                municipality_id=world.municipality_id, provider="saml", claim="sygeplejerske", role="nurse"
            )
        )
    before = await users_of(sessions, world)

    async with sessions.begin() as session:
        refused = await sign_in_federated(session, _saml(world, ("sygeplejerske",)))

    assert refused == Refusal("no_district")
    assert await users_of(sessions, world) == before


async def test_the_administrator_gets_a_clear_refusal_for_what_cannot_be_mapped(client: Client, world: World) -> None:
    async def put(path: str, body: dict[str, object]) -> httpx.Response:
        return await client.put(path, json=body, headers=world.admin.headers | {"Idempotency-Key": str(uuid.uuid4())})

    insecure = await put(
        "/admin/federation/oidc", {"issuer": "http://login.example.com/t/v2.0", "client_id": "c", "client_secret": "s"}
    )
    unit_role = await put("/admin/federation/mappings", {"claim": "g", "role": "palliative_unit"})
    foreign = await put(
        "/admin/federation/mappings", {"claim": "g", "role": "nurse", "district_ids": [str(uuid.uuid4())]}
    )
    empty = await put("/admin/federation/mappings", {"claim": "g", "role": None})

    assert [(a.status_code, a.json()["field"]) for a in (insecure, unit_role, foreign, empty)] == [
        (422, "issuer"),
        (422, "role"),
        (422, "district_ids"),
        (422, "role"),
    ]
    listed = await client.get("/admin/federation/mappings", headers=world.admin.headers)
    assert listed.json() == []
