"""Builders for test data: a whole small municipality, and logged-in users with bearer headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.clock import Clock
from backend.config import Settings
from backend.people.actor import Actor
from backend.people.models import Device, Organisation, OrganisationServes, PasswordSignIn, Role, User, UserDistrict
from backend.people.tokens import AccessClaims, hash_token, issue_access_token, new_refresh_token

# A real argon2 hash of "correct horse battery staple", so worlds are cheap to build but can log in.
PASSWORD = "correct horse battery staple"


@dataclass
class Login:
    user_id: uuid.UUID
    device_id: uuid.UUID
    role: Role
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    municipality_id: uuid.UUID
    district_a: uuid.UUID
    district_b: uuid.UUID
    unit_id: uuid.UUID
    team_id: uuid.UUID
    users: dict[str, Login] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Login:
        try:
            return self.users[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


_password_hash: str | None = None


def password_hash() -> str:
    global _password_hash
    if _password_hash is None:
        from argon2 import PasswordHasher

        _password_hash = PasswordHasher().hash(PASSWORD)
    return _password_hash


async def add_user(
    session: AsyncSession,
    settings: Settings,
    clock: Clock,
    *,
    role: Role,
    organisation_id: uuid.UUID,
    districts: tuple[uuid.UUID, ...] = (),
    name: str = "Test Person",
) -> Login:
    """A user with a device and a valid access token, as after a login."""
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@test.lindra.dk"
    user = User(
        email=email, password_hash=password_hash(), full_name=name, role=role.value, organisation_id=organisation_id
    )
    session.add(user)
    await session.flush()
    for district in districts:
        session.add(UserDistrict(user_id=user.id, district_id=district))
    device = Device(
        user_id=user.id,
        platform="android",
        app_version="1.0.0",
        refresh_token_hash=hash_token(new_refresh_token()),
        refresh_expires_at=clock.now() + timedelta(days=30),
    )
    session.add(device)
    await session.flush()
    token = issue_access_token(
        settings.secret_key, AccessClaims(user.id, device.id, role.value), clock.now(), settings.access_token_minutes
    )
    return Login(user.id, device.id, role, email, token)


async def build_world(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    neighbour_of: World | None = None,
    password_sign_in: PasswordSignIn = PasswordSignIn.PASSWORD_ALONE,
) -> World:
    """A municipality with two districts and one user of every role. With `neighbour_of`, the
    municipality next door: served by the same palliative unit and regional team, as the
    capital's municipalities share Afdeling for Lindring.

    Its people share a published password, like the demo's, so by default they sign in with it
    alone; the second factor's tests ask for `PasswordSignIn.SECOND_FACTOR`."""
    tag = uuid.uuid4().hex[:6]
    async with sessions() as session, session.begin():
        municipality = Organisation(kind="municipality", name=f"Kommune {tag}", password_sign_in=password_sign_in)
        session.add(municipality)
        await session.flush()
        district_a = Organisation(kind="district", name=f"Distrikt A {tag}", parent_id=municipality.id)
        district_b = Organisation(kind="district", name=f"Distrikt B {tag}", parent_id=municipality.id)
        session.add_all([district_a, district_b])
        if neighbour_of is None:
            unit = Organisation(
                kind="palliative_unit", name=f"Afdeling for Lindring {tag}", password_sign_in=password_sign_in
            )
            team = Organisation(kind="palliative_team", name=f"Palliativt team {tag}")
            session.add_all([unit, team])
        else:
            unit = await session.get_one(Organisation, neighbour_of.unit_id)
            team = await session.get_one(Organisation, neighbour_of.team_id)
        await session.flush()
        session.add_all(
            [
                OrganisationServes(provider_id=unit.id, municipality_id=municipality.id),
                OrganisationServes(provider_id=team.id, municipality_id=municipality.id),
            ]
        )
        world = World(municipality.id, district_a.id, district_b.id, unit.id, team.id)

        async def user(key: str, role: Role, org: uuid.UUID, districts: tuple[uuid.UUID, ...] = ()) -> None:
            world.users[key] = await add_user(
                session, settings, clock, role=role, organisation_id=org, districts=districts
            )

        await user("nurse_a", Role.NURSE, district_a.id, (district_a.id,))
        await user("nurse_b", Role.NURSE, district_b.id, (district_b.id,))
        await user("coordinator", Role.COORDINATOR, municipality.id)
        await user("key_person", Role.KEY_PERSON, municipality.id)
        await user("admin", Role.ADMIN, municipality.id)
        if neighbour_of is None:
            await user("unit", Role.PALLIATIVE_UNIT, unit.id)
        else:
            world.users["unit"] = neighbour_of.unit
    return world


def acting(world: World, key: str) -> Actor:
    """The actor the services see for one of the world's people (`world.users[key]`), as a request
    would load it: for calling a service directly, without HTTP."""
    login = world.users[key]
    districts = {"nurse_a": (world.district_a,), "nurse_b": (world.district_b,)}.get(key, ())
    organisation = districts[0] if districts else world.unit_id if key == "unit" else world.municipality_id
    return Actor(
        user_id=login.user_id,
        device_id=login.device_id,
        role=login.role,
        organisation_id=organisation,
        municipality_id=None if key == "unit" else world.municipality_id,
        district_ids=districts,
        served_municipality_ids=(world.municipality_id,) if key == "unit" else (),
        request_id="test",
    )
