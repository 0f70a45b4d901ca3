"""The demo municipality: fictional staff and about forty home-death cases, loaded once.

`load_demo(url)` adds it unless it is already there; `load_demo(url, reset=True)` first
drops and re-migrates the whole schema (the audit log refuses DELETE and TRUNCATE, and a reset
demo should be a fresh database anyway). The content comes from a seeded random generator, so
every load gives the same people, ids and cases; only the dates move with today.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend import demo_data as d
from backend.cases.models import (
    ActionPlan,
    Application,
    Case,
    Citizen,
    HomeDeathWish,
    Indication,
    Medicine,
    Place,
    Relative,
    StatusNote,
    Wish,
)
from backend.cases.workdays import add_working_days, is_working_day
from backend.clock import COPENHAGEN, Clock
from backend.db import make_engine, make_sessionmaker, migrate
from backend.demo_visits import add_demo_visits
from backend.people.models import Organisation, OrganisationServes, Role, User, UserDistrict

# Serialises concurrent loads (two app instances starting at once) on one database.
_LOCK_KEY = 0x11D4A_DE30


async def load_demo(database_url: str, reset: bool = False) -> bool:
    """Load the demo municipality unless it exists; True when it was loaded."""
    if reset:
        await _recreate_schema(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            if await session.get(Organisation, d.MUNICIPALITY_ID) is not None:
                return False
            await _Demo(session, Clock().now()).build()
        return True
    finally:
        await engine.dispose()


def print_logins() -> None:
    names = {d.MUNICIPALITY_ID: d.MUNICIPALITY_NAME, **dict(d.DISTRICTS), **{i: n for i, _, n in d.PROVIDERS}}
    print(f"Demo logins (password for all: {d.PASSWORD})")
    print(f"  {'e-mail':<40} {'role':<16} district / organisation")
    for local, _name, role, org, _skilled in d.USERS:
        print(f"  {local + '@' + d.EMAIL_DOMAIN:<40} {role.value:<16} {names[org]}")


async def _recreate_schema(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
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


def _phone(rng: random.Random) -> str:
    return f"+45 {rng.randint(20, 61)}{rng.randint(10, 99)} {rng.randint(1000, 9999)}"


class _Demo:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.today = now.astimezone(COPENHAGEN).date()
        self.rng = random.Random(d.SEED)
        self.cprs: set[str] = set()
        self.names: set[str] = set()
        self.users: dict[str, User] = {}
        self.terminal_seen = 0
        self.children_seen = 0

    def id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A Copenhagen time of day, never later than now."""
        return min(self.now, datetime(day.year, day.month, day.day, hour, minute, tzinfo=COPENHAGEN))

    def name(self, female: bool) -> tuple[str, str]:
        """A full name not used before, and its surname."""
        while True:
            surname = self.rng.choice(d.SURNAMES)
            name = f"{self.rng.choice(d.FEMALE_NAMES if female else d.MALE_NAMES)} {surname}"
            if name not in self.names:
                self.names.add(name)
                return name, surname

    async def build(self) -> None:
        self.session.add(Organisation(id=d.MUNICIPALITY_ID, kind="municipality", name=d.MUNICIPALITY_NAME))
        await self.session.flush()
        for org_id, name in d.DISTRICTS:
            self.session.add(Organisation(id=org_id, kind="district", name=name, parent_id=d.MUNICIPALITY_ID))
        for org_id, kind, name in d.PROVIDERS:
            self.session.add(Organisation(id=org_id, kind=kind, name=name))
        await self.session.flush()
        self.session.add_all(
            OrganisationServes(provider_id=p, municipality_id=d.MUNICIPALITY_ID) for p, _, _ in d.PROVIDERS
        )
        await self._users()
        n = 0
        for status, counts in d.CASE_PLAN.items():
            plan = [timeliness for timeliness, count in counts.items() for _ in range(count)]
            self.rng.shuffle(plan)
            phases = d.PHASES_BY_STATUS[status]
            for j, timeliness in enumerate(plan):
                await self._case(n, j, status, phases[j % len(phases)], timeliness)
                n += 1
        await self.session.flush()
        await add_demo_visits(self.session, self.users, self.now)

    async def _users(self) -> None:
        password_hash = PasswordHasher().hash(d.PASSWORD)
        for local, name, role, org, skilled in d.USERS:
            user = User(
                id=self.id(),
                email=f"{local}@{d.EMAIL_DOMAIN}",
                password_hash=password_hash,
                full_name=name,
                role=role.value,
                organisation_id=org,
                phone=_phone(self.rng),
                palliative_skilled=skilled,
            )
            self.session.add(user)
            self.users[local] = user
        await self.session.flush()
        for user in self.users.values():
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
        rng = self.rng
        district_id, district_name = d.DISTRICTS[n % 2]
        nurses = [u for u in self.users.values() if u.role == Role.NURSE and u.organisation_id == district_id]
        nurse = rng.choice(nurses)
        key_person = self.users[f"noegleperson{n % 2 + 1}"]
        female = rng.random() < 0.5
        born = date(1930, 1, 1) + timedelta(days=rng.randint(0, (date(1965, 12, 31) - date(1930, 1, 1)).days))
        name, surname = self.name(female)
        town, streets = d.STREETS[district_id]
        citizen = Citizen(
            id=self.id(),
            municipality_id=d.MUNICIPALITY_ID,
            cpr=_cpr(rng, born, female, self.cprs),
            name=name,
            address=f"{rng.choice(streets)} {rng.randint(1, 140)}, {rng.randint(1, 5)}. {rng.choice(d.SIDES)}, {town}",
            phone=_phone(rng),
        )
        sex = "f" if female else "m"
        diagnosis, icd10, department, _ = rng.choice([x for x in d.DIAGNOSES if x[3] in ("", sex)])
        received, contact, assessed = self._referral(timeliness, status in ("deceased", "closed"))
        gp_name, gp_phone = d.GPS[rng.randrange(3) + 3 * (n % 2)]
        case = Case(
            id=self.id(),
            citizen_id=citizen.id,
            municipality_id=d.MUNICIPALITY_ID,
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

    def _terminal(self, case: Case, seen: date, status: str) -> None:
        rng = self.rng
        case.terminal_declared_on = min(self.today, seen + timedelta(days=rng.randint(-3, 10)))
        case.terminal_grant = rng.choice((Application.GRANTED, Application.GRANTED, Application.APPLIED)).value
        case.carers_leave = rng.choices(tuple(Application), weights=(2, 2, 3, 1))[0].value
        if status in ("active", "admitted") and self.terminal_seen % 2:
            case.unit_referred_at = self.at(case.terminal_declared_on, 11, rng.randint(0, 59))

    def _wishes(
        self,
        case: Case,
        nurse: User,
        contact: date | None,
        assessed: date | None,
        death: tuple[HomeDeathWish, Place] | None,
    ) -> None:
        """One talk about wishes, or two (undecided first) to show the history."""
        if contact is None:
            return
        rng = self.rng
        final = death[0] if death else rng.choices(tuple(HomeDeathWish), weights=(6, 2, 2))[0]
        talks = [(contact, HomeDeathWish.UNDECIDED)] if rng.random() < 0.35 and assessed else []
        talks.append((assessed or contact, final))
        elsewhere = death[1] if death else rng.choice((Place.HOSPICE, Place.PALLIATIVE_UNIT, Place.HOSPITAL))
        for day, wish in talks:
            death_place = {HomeDeathWish.YES: Place.HOME, HomeDeathWish.NO: elsewhere}.get(wish)
            self.session.add(
                Wish(
                    id=self.id(),
                    case_id=case.id,
                    dies_at_home=wish.value,
                    preferred_place_of_care=Place.HOME.value,
                    preferred_place_of_death=death_place.value if death_place else None,
                    discussed_on=day,
                    discussed_with=rng.choice(d.DISCUSSED_WITH),
                    recorded_by=nurse.id,
                    recorded_at=self.at(day, 13),
                )
            )
        case.home_death_wish = final.value

    def _death(self, case: Case, after: date, place: Place) -> None:
        rng = self.rng
        day = min(self.today - timedelta(days=1), after + timedelta(days=rng.randint(4, 30)))
        case.died_at = self.at(day, rng.randint(0, 23), rng.randint(0, 59))
        case.death_place = place.value
        case.death_present = rng.choice(d.DEATH_PRESENT)
        case.gp_informed = place != Place.HOME or rng.random() < 0.8

    def _medicine(self, case: Case, nurse: User, contact: date | None, phase: str) -> None:
        """Anticipatory medicine, recorded from the first visit on; terminal cases show the gaps in turn."""
        rng = self.rng
        if phase == "terminal":
            problem, affected = d.MEDICINE_GAPS[self.terminal_seen % len(d.MEDICINE_GAPS)]
            self.terminal_seen += 1
            indications = [i for i in Indication if not (problem == "missing" and i in affected)]
        elif phase == "late" and rng.random() < 0.6:
            problem, affected, indications = "ok", (), [Indication.PAIN, Indication.NAUSEA]
        else:
            return
        if contact is None:
            return
        seen = max(contact, case.terminal_declared_on or contact)
        for indication in indications:
            expires = self.today + timedelta(days=rng.randint(60, 300))
            if indication in affected and problem == "expiring":
                expires = self.today + timedelta(days=rng.randint(1, 6))
            elif indication in affected and problem == "expired":
                expires = self.today - timedelta(days=rng.randint(1, 20))
            drug, strength = d.MEDICINES[indication]
            self.session.add(
                Medicine(
                    id=self.id(),
                    case_id=case.id,
                    indication=indication.value,
                    drug=drug,
                    strength=strength,
                    quantity=f"{rng.choice((3, 5, 5, 10))} ampuller",
                    expires_on=expires,
                    recorded_by=nurse.id,
                    recorded_at=self.at(seen, 15),
                    removed_at=case.died_at,  # taken away when the citizen died
                )
            )

    def _relatives(self, case: Case, n: int, born: date, surname: str) -> None:
        rng = self.rng
        rows: list[dict[str, Any]] = []
        if rng.random() < 0.7:
            partner = rng.choice(("ægtefælle", "ægtefælle", "samlever"))
            rows.append(
                {
                    "name": f"{rng.choice(d.FEMALE_NAMES + d.MALE_NAMES)} {surname}",
                    "relation": partner,
                    "primary_contact": True,
                    "lives_with_citizen": True,
                    "consent_to_information": True,
                }
            )
        if rng.random() < 0.6:
            rows.append(
                {
                    "name": f"{rng.choice(d.FEMALE_NAMES)} {surname}",
                    "relation": "datter",
                    "birth_year": born.year + rng.randint(22, 34),
                    "primary_contact": not rows,
                    "consent_to_information": True,
                }
            )
        if n % 5 == 2:
            support = d.CHILD_SUPPORT[self.children_seen % len(d.CHILD_SUPPORT)]
            self.children_seen += 1
            talks = rng.choice(d.TALKS_WITH_CHILD) if support or rng.random() < 0.3 else None
            rows.append(
                {
                    "name": f"{rng.choice(d.MALE_NAMES)} {surname}",
                    "relation": "søn" if born.year >= 1962 else "barnebarn",
                    "birth_year": self.today.year - rng.randint(6, 16),
                    "lives_with_citizen": born.year >= 1962,
                    "support_offered": support,
                    "talks_with_child": talks,
                }
            )
        for row in rows:
            self.session.add(Relative(id=self.id(), case_id=case.id, phone=_phone(rng), **row))

    def _action_plan(
        self, case: Case, phase: str, assessed: date, nurse: User, key_person: User, gp_name: str, district_name: str
    ) -> None:
        needs, purpose = d.ACTION_PLANS[phase]
        parts = [
            {"part": "Symptomlindring og ordination af PN-medicin", "responsible": gp_name},
            {"part": "Sygepleje dag, aften og nat", "responsible": district_name},
            {"part": "Koordinering og fast kontaktperson", "responsible": nurse.full_name},
            {"part": "Samtaler med pårørende og børn", "responsible": key_person.full_name},
        ]
        if case.palliative_team_id:
            parts.append({"part": "Specialiseret palliativ rådgivning", "responsible": d.PROVIDERS[0][2]})
        self.session.add(
            ActionPlan(
                id=self.id(),
                case_id=case.id,
                version=1,
                needs=needs,
                purpose=purpose,
                place="Eget hjem",
                responsibilities=parts,
                other_departments=case.hospital_department,
                evaluate_on=assessed + timedelta(days=14),
                evaluated_by=nurse.full_name,
                created_by=nurse.id,
                created_at=self.at(assessed, 14, 30),
            )
        )

    def _notes(self, case: Case, status: str, phase: str, contact: date | None, nurse: User, key_person: User) -> None:
        if contact is None:
            return
        later = {
            "active": ["night"] if phase == "terminal" else [],
            "admitted": ["admitted"],
            "deceased": ["died_home" if case.death_place == Place.HOME else "died_hospital"],
            "closed": ["closed"],
        }
        keys = [phase, *later.get(status, [])]
        # The first note at the first contact, the others spread up to the death or recent days.
        end = self.today - timedelta(days=self.rng.randint(0, 6))
        last = max(contact, case.died_at.astimezone(COPENHAGEN).date() if case.died_at else end)
        for k, key in enumerate(keys):
            day = contact + (last - contact) * k // max(1, len(keys) - 1)
            author = key_person if key == "admitted" else nurse
            self.session.add(
                StatusNote(
                    id=self.id(),
                    case_id=case.id,
                    text=d.NOTES[key],
                    author_id=author.id,
                    created_at=self.at(day, 8 + 2 * k, self.rng.randint(0, 59)),
                )
            )
