"""The demo municipality: fictional staff and about forty home-death cases, loaded once, beside
a smaller neighbour sharing its palliative unit and regional team.

`load_demo(url)` adds it unless it is already there; `load_demo(url, reset=True)` first
drops and re-migrates the whole schema (the audit log refuses DELETE and TRUNCATE, and a reset
demo should be a fresh database anyway). The content comes from a seeded random generator, so
every load gives the same people, ids and cases; only the dates move with today.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import demo_data as d
from backend.cases.models import Case, Citizen
from backend.cases.workdays import add_working_days, is_working_day
from backend.clock import Clock
from backend.db import make_engine, make_sessionmaker, migrate
from backend.demo_records import CaseRecords, phone
from backend.demo_visits import add_demo_visits
from backend.people.models import Organisation, OrganisationServes, PasswordSignIn, Role, User, UserDistrict
from backend.row_scope import SYSTEM

# Serialises concurrent loads (two app instances starting at once) on one database.
_LOCK_KEY = 0x11D4A_DE30


async def load_demo(database_url: str, reset: bool = False) -> bool:
    """Load the demo municipality unless it exists; True when it was loaded."""
    if reset:
        await _recreate_schema(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine, SYSTEM)() as session, session.begin():  # a whole municipality
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            if await session.get(Organisation, d.MUNICIPALITY_ID) is not None:
                return False
            await _Demo(session, Clock().now()).build()
        return True
    finally:
        await engine.dispose()


def print_logins() -> None:
    names = {m.id: m.name for m in d.MUNICIPALITIES} | {i: n for m in d.MUNICIPALITIES for i, n in m.districts}
    names |= {i: n for i, _, n in d.PROVIDERS}
    print(f"Demo logins (password for all: {d.PASSWORD})")
    print(f"  {'e-mail':<40} {'role':<16} district / organisation")
    for local, _name, role, org, _skilled in d.ALL_USERS:
        print(f"  {local + '@' + d.EMAIL_DOMAIN:<40} {role.value:<16} {names[org]}")


async def _recreate_schema(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, role=None)  # the schema's owner drops it
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
            await conn.execute(text("GRANT USAGE ON SCHEMA public TO PUBLIC"))
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate, database_url)


def _working_days_before(day: date, count: int) -> date:
    while count > 0:
        day -= timedelta(days=1)
        count -= is_working_day(day)
    return day


def _cpr(rng: random.Random, born: date, female: bool, used: set[str]) -> str:
    """A CPR number valid in form for a birth in 1930-1965, failing modulus 11 on purpose.

    Every number issued before 2007 passes modulus 11, so these cannot be anyone born then.
    """
    while True:
        # 7th digit 0-3 means the 1900s; 4 and 9 do so only from year 37.
        century_digit = rng.choice("0123" if born.year < 1937 else "012349")
        last = rng.randrange(0, 10, 2) + (0 if female else 1)
        cpr = f"{born:%d%m%y}{century_digit}{rng.randint(0, 99):02d}{last}"
        checksum = sum(int(c) * w for c, w in zip(cpr, (4, 3, 2, 7, 6, 5, 4, 3, 2, 1), strict=True))
        if checksum % 11 and cpr not in used:
            used.add(cpr)
            return cpr


class _Demo(CaseRecords):
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        super().__init__(session, now)
        self.cprs: set[str] = set()
        self.names: set[str] = set()
        self.users: dict[str, User] = {}
        self.municipality = d.MUNICIPALITIES[0]  # the one whose cases are being made

    def name(self, female: bool) -> tuple[str, str]:
        """A full name not used before, and its surname."""
        while True:
            surname = self.rng.choice(d.SURNAMES)
            name = f"{self.rng.choice(d.FEMALE_NAMES if female else d.MALE_NAMES)} {surname}"
            if name not in self.names:
                self.names.add(name)
                return name, surname

    async def build(self) -> None:
        # The demo's logins share a published password, so a second factor would guard nothing:
        # passwords alone (an admin switches hers to `second_factor` to try the authenticator app).
        alone = PasswordSignIn.PASSWORD_ALONE.value
        for municipality in d.MUNICIPALITIES:
            self.session.add(
                Organisation(id=municipality.id, kind="municipality", name=municipality.name, password_sign_in=alone)
            )
            await self.session.flush()
            for org_id, name in municipality.districts:
                self.session.add(Organisation(id=org_id, kind="district", name=name, parent_id=municipality.id))
        for org_id, kind, name in d.PROVIDERS:
            self.session.add(Organisation(id=org_id, kind=kind, name=name, password_sign_in=alone))
        await self.session.flush()
        self.session.add_all(
            OrganisationServes(provider_id=p, municipality_id=m.id) for m in d.MUNICIPALITIES for p, _, _ in d.PROVIDERS
        )
        # Each municipality's people, then its cases: what the random draws make of Copenhagen
        # does not depend on its neighbour.
        password_hash = PasswordHasher().hash(d.PASSWORD)
        for municipality in d.MUNICIPALITIES:
            self.municipality = municipality
            await self._users(municipality.users, password_hash)
            await self._cases()
        await self._users(d.PROVIDER_ADMINS, password_hash)
        await self.session.flush()
        await add_demo_visits(self.session, self.users, self.now)

    async def _cases(self) -> None:
        """The municipality's cases: so many of each status and timeliness, shuffled."""
        n = 0
        for status, counts in self.municipality.case_plan.items():
            plan = [timeliness for timeliness, count in counts.items() for _ in range(count)]
            self.rng.shuffle(plan)
            phases = d.PHASES_BY_STATUS[status]
            for j, timeliness in enumerate(plan):
                await self._case(n, j, status, phases[j % len(phases)], timeliness)
                n += 1

    async def _users(self, rows: tuple[d.UserRow, ...], password_hash: str) -> None:
        added = []
        for local, name, role, org, skilled in rows:
            user = User(
                id=self.id(),
                email=f"{local}@{d.EMAIL_DOMAIN}",
                password_hash=password_hash,
                full_name=name,
                role=role.value,
                organisation_id=org,
                phone=phone(self.rng),
                palliative_skilled=skilled,
            )
            self.session.add(user)
            self.users[local] = user
            added.append(user)
        await self.session.flush()
        for user in added:
            if user.role == Role.NURSE:
                self.session.add(UserDistrict(user_id=user.id, district_id=user.organisation_id))

    def _referral(self, timeliness: str, ended: bool) -> tuple[date, date | None, date | None]:
        """Received, first contact and assessment dates for one kind of timeliness."""
        rng, today = self.rng, self.today
        if timeliness == "contact_soon":
            return _working_days_before(today, 5 - rng.randint(0, 2)), None, None
        if timeliness == "contact_overdue":
            return _working_days_before(today, rng.randint(6, 9)), None, None
        if timeliness in ("assessment_soon", "assessment_overdue"):
            back = 10 - rng.randint(0, 2) if timeliness == "assessment_soon" else rng.randint(12, 16)
            received = _working_days_before(today, back)
            return received, add_working_days(received, rng.randint(1, 4)), None
        late = timeliness == "late"
        received = today - timedelta(days=rng.randint(30 if ended else 25 if late else 16, 60))
        contact = add_working_days(received, rng.randint(6, 8) if late else rng.randint(1, 5))
        assessed = add_working_days(received, rng.randint(11, 14) if late else rng.randint(6, 10))
        return received, min(contact, today), min(assessed, today)

    async def _case(self, n: int, j: int, status: str, phase: str, timeliness: str) -> None:
        """The n-th case, the j-th of its status."""
        rng, municipality = self.rng, self.municipality
        district_id, district_name = municipality.districts[n % len(municipality.districts)]
        nurses = [u for u in self.users.values() if u.role == Role.NURSE and u.organisation_id == district_id]
        nurse = rng.choice(nurses)
        key_person = self.users[municipality.key_persons[n % len(municipality.key_persons)]]
        female = rng.random() < 0.5
        born = date(1930, 1, 1) + timedelta(days=rng.randint(0, (date(1965, 12, 31) - date(1930, 1, 1)).days))
        name, surname = self.name(female)
        town, streets = d.STREETS[district_id]
        citizen = Citizen(
            id=self.id(),
            municipality_id=municipality.id,
            cpr=_cpr(rng, born, female, self.cprs),
            name=name,
            address=f"{rng.choice(streets)} {rng.randint(1, 140)}, {rng.randint(1, 5)}. {rng.choice(d.SIDES)}, {town}",
            phone=phone(rng),
        )
        sex = "f" if female else "m"
        diagnosis, icd10, department, _ = rng.choice([x for x in d.DIAGNOSES if x[3] in ("", sex)])
        received, contact, assessed = self._referral(timeliness, status in ("deceased", "closed"))
        gp_name, gp_phone = d.GPS[district_id][rng.randrange(3)]
        case = Case(
            id=self.id(),
            citizen_id=citizen.id,
            municipality_id=municipality.id,
            district_id=district_id,
            diagnosis=diagnosis,
            icd10=icd10,
            phase=phase,
            status=status,
            contact_person_id=None if timeliness == "contact_soon" else nurse.id,
            key_person_id=key_person.id,
            gp_name=gp_name,
            gp_phone=gp_phone,
            hospital_department=department,
            palliative_team_id=d.TEAM_ID if phase == "terminal" or rng.random() < 0.3 else None,
            referral_received_on=received,
            referral_source=d.SOURCES[n % len(d.SOURCES)].value,
            first_contact_due=add_working_days(received, 5),
            assessment_due=add_working_days(received, 10),
            first_contact_on=contact,
            assessment_on=assessed,
            created_at=self.at(received, 9, rng.randint(0, 59)),
        )
        # Rows are flushed per case so foreign keys always find their parent.
        self.session.add(citizen)
        await self.session.flush()
        self.session.add(case)
        await self.session.flush()
        seen = contact or received
        death = d.DEATHS[j % len(d.DEATHS)] if status == "deceased" else None
        if phase == "terminal":
            self._terminal(case, seen, status)
        self._wishes(case, nurse, contact, assessed, death)
        if death is not None:
            self._death(case, max(assessed or seen, case.terminal_declared_on or seen), death[1])
        if status != "closed":
            self._medicine(case, nurse, contact, phase)
        self._relatives(case, n, born, surname)
        if assessed:
            self._action_plan(case, phase, assessed, nurse, key_person, gp_name, district_name)
        self._notes(case, status, phase, contact, nurse, key_person)
        await self.session.flush()
