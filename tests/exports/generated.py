"""Generated worlds for the exports: a municipality whose cases are drawn at random from a seed,
each with what the exports carry (wishes, medicine, relatives and children, visits done, missed
and cancelled, assessments on every instrument, alerts with their tiers, hospital stays with
MedCom's episode identifiers, a course through the statuses, a death or not).

Cases are created through the API and moved through their course by the course's own service
(so the audit log holds the steps the status history is made of); the rest is written as the
plan generator, the phone, the escalation engine and the hospital notices leave it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update

from backend.alerts.models import Alert, AlertTier, Outcome, Reason, Severity
from backend.cases.models import Case, Citizen, Indication, Medicine, Place, Relative, Status, Wish
from backend.clock import COPENHAGEN, Clock
from backend.config import Settings
from backend.course import death as course_death
from backend.course import service as course
from backend.messages.models import HospitalStay
from backend.visits.bedside import ESAS_R_ITEMS
from backend.visits.models import SymptomAssessment
from tests.cases.helpers import Client, Sessions, create_case
from tests.factories import World, acting, build_world
from tests.visits.coordination_helpers import add_rows, add_visit

FIRST_NAMES = ("Karen", "Jens", "Birthe", "Ole", "Inge", "Poul", "Hanne", "Niels", "Lis", "Erik")
SURNAMES = ("Nørgaard", "Kjærsgaard", "Lykkegaard", "Vestergaard", "Bundgaard", "Damsgaard")
CHILD_NAMES = ("Asta", "Malthe", "Ida", "Storm", "Freja", "Bertil")
INSTRUMENT_ITEMS = {
    "ESAS-r": (ESAS_R_ITEMS, 0, 10),
    "IPOS": (("pain", "breathlessness", "weakness", "nausea", "anxiety"), 0, 4),
    "EORTC-QLQ-C15-PAL": (tuple(f"q{n}" for n in range(1, 15)), 1, 4),
}
PERIOD_DAYS = 150  # the generated courses lie within the 150 days before yesterday


@dataclass
class GeneratedCase:
    case_id: uuid.UUID
    cpr: str
    name: str
    relatives: list[str]
    scored_items: int  # items scored over all assessments (an Observation each)
    visits: int
    stays: int
    alerts: int
    tiers: int
    has_wish: bool


@dataclass
class GeneratedWorld:
    world: World
    cases: list[GeneratedCase] = field(default_factory=list)

    def personal_words(self) -> set[str]:
        """Every CPR number and name the world holds: none may appear in the national data set."""
        words = {c.cpr for c in self.cases} | {f"{c.cpr[:6]}-{c.cpr[6:]}" for c in self.cases}
        return words | {c.name for c in self.cases} | {n for c in self.cases for n in c.relatives}


def first_day(clock: Clock) -> date:
    return clock.today() - timedelta(days=PERIOD_DAYS + 1)


async def generate_world(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock, seed: int, cases: int = 4
) -> GeneratedWorld:
    """A fresh municipality with `cases` cases drawn from `seed`."""
    rng = random.Random(seed)
    generated = GeneratedWorld(await build_world(sessions, settings, clock))
    for _ in range(cases):
        generated.cases.append(await _case(client, sessions, clock, generated.world, rng))
    return generated


def _at(rng: random.Random, start: date, days: int, clock: Clock) -> datetime:
    """An instant between `start` and `days` days after it, never later than yesterday evening:
    the generated courses lie in days that have ended, as an export's period does."""
    moment = datetime.combine(start, time(0), COPENHAGEN) + timedelta(minutes=rng.randrange(max(1, days) * 24 * 60))
    return min(moment, datetime.combine(clock.today(), time(0), COPENHAGEN) - timedelta(hours=2)).astimezone(UTC)


async def _case(client: Client, sessions: Sessions, clock: Clock, world: World, rng: random.Random) -> GeneratedCase:
    received = first_day(clock) + timedelta(days=rng.randrange(PERIOD_DAYS - 40))
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    district = rng.choice((world.district_a, world.district_b))
    phase = rng.choice(("early", "late", "terminal"))
    created = await create_case(client, world.coordinator, district, received, name=name, phase=phase)
    case_id = uuid.UUID(created["id"])
    nurse = world.nurse_a if district == world.district_a else world.nurse_b
    await _contact(sessions, rng, case_id, received)
    relatives, has_wish = await _records(sessions, rng, case_id, received, nurse.user_id)
    visits, scored = await _visits(sessions, rng, clock, case_id, district, received, nurse.user_id)
    alerts, tiers = await _alerts(sessions, rng, clock, world, case_id, district, received)
    stays = await _course(sessions, rng, clock, world, case_id, received)
    async with sessions() as session:
        cpr = await session.scalar(
            select(Citizen.cpr).join(Case, Case.citizen_id == Citizen.id).where(Case.id == case_id)
        )
    assert cpr is not None
    return GeneratedCase(case_id, cpr, name, relatives, scored, visits, stays, alerts, tiers, has_wish)


async def _contact(sessions: Sessions, rng: random.Random, case_id: uuid.UUID, received: date) -> None:
    """First contact within a few days, or late, or not yet; the needs assessment after it, or not yet."""
    contact = received + timedelta(days=rng.randrange(12)) if rng.random() < 0.85 else None
    assessed = contact + timedelta(days=rng.randrange(14)) if contact and rng.random() < 0.8 else None
    async with sessions() as session, session.begin():
        await session.execute(
            update(Case).where(Case.id == case_id).values(first_contact_on=contact, assessment_on=assessed)
        )


async def _records(
    sessions: Sessions, rng: random.Random, case_id: uuid.UUID, received: date, nurse: uuid.UUID
) -> tuple[list[str], bool]:
    """Wishes (none, one or a change of mind), some of the anticipatory medicine, relatives and children."""
    rows: list[Any] = []
    for n in range(rng.randrange(3)):
        rows.append(
            Wish(
                case_id=case_id,
                dies_at_home=rng.choice(("yes", "no", "undecided")),
                preferred_place_of_death=rng.choice([*Place, None]),
                discussed_on=received + timedelta(days=n + 1),
                discussed_with="Borgeren og ægtefællen",
                recorded_by=nurse,
            )
        )
    for indication in rng.sample(list(Indication), rng.randrange(len(Indication) + 1)):
        rows.append(
            Medicine(
                case_id=case_id,
                indication=indication,
                drug="Morfin",
                strength="10 mg/ml",
                quantity="5 ampuller",
                expires_on=received + timedelta(days=rng.randrange(-30, 300)),
                recorded_by=nurse,
            )
        )
    names = []
    this_year = received.year
    for n in range(rng.randrange(4)):
        child = rng.random() < 0.5
        name = f"{rng.choice(CHILD_NAMES if child else FIRST_NAMES)} {rng.choice(SURNAMES)}"
        names.append(name)
        rows.append(
            Relative(
                case_id=case_id,
                name=name,
                relation="datter" if child else "ægtefælle",
                primary_contact=n == 0,
                birth_year=this_year - rng.randrange(3, 17) if child else rng.choice((None, 1950)),
                talks_with_child="Kontaktperson" if child and rng.random() < 0.5 else None,
                support_offered=rng.choice((True, False)) if child else None,
            )
        )
    await add_rows(sessions, *rows)
    return names, any(isinstance(row, Wish) for row in rows)


async def _visits(
    sessions: Sessions,
    rng: random.Random,
    clock: Clock,
    case_id: uuid.UUID,
    district: uuid.UUID,
    received: date,
    nurse: uuid.UUID,
) -> tuple[int, int]:
    """Visits done (some with an assessment on one of the instruments), missed and cancelled."""
    count, scored = rng.randrange(1, 7), 0
    for _ in range(count):
        start = _at(rng, received, 40, clock)
        status = rng.choice(("done", "done", "done", "missed", "cancelled"))
        done = status == "done"
        visit_id = await add_visit(
            sessions,
            case_id,
            district,
            start,
            status=status,
            assigned_to=nurse,
            kind=rng.choice(("planned", "planned", "ad_hoc", "acute")),
            checked_in_at=start if done else None,
            checked_out_at=start + timedelta(minutes=40) if done else None,
            missed_at=start + timedelta(minutes=90) if status == "missed" else None,
            cancel_reason="admitted" if status == "cancelled" else None,
        )
        if done and rng.random() < 0.7:
            instrument = rng.choice(list(INSTRUMENT_ITEMS))
            items, low, high = INSTRUMENT_ITEMS[instrument]
            scores = {item: rng.randint(low, high) for item in items}
            scored += len(scores)
            await add_rows(
                sessions,
                SymptomAssessment(
                    case_id=case_id,
                    visit_id=visit_id,
                    instrument=instrument,
                    scores=scores,
                    recorded_at=start + timedelta(minutes=10),
                    recorded_by=nurse,
                ),
            )
    return count, scored


async def _alerts(
    sessions: Sessions,
    rng: random.Random,
    clock: Clock,
    world: World,
    case_id: uuid.UUID,
    district: uuid.UUID,
    received: date,
) -> tuple[int, int]:
    """Alerts resolved (with an outcome) or still open, each with the tiers that fired."""
    count, fired = rng.randrange(3), 0
    for _ in range(count):
        raised = _at(rng, received, 40, clock)
        resolved = rng.random() < 0.7
        tiers = rng.randrange(1, 4)
        alert = Alert(
            id=uuid.uuid4(),
            municipality_id=world.municipality_id,
            district_id=district,
            case_id=case_id,
            reason=rng.choice(list(Reason)),
            severity=rng.choice(list(Severity)),
            source="phone",
            raised_at=raised,
            received_at=raised,
            status="resolved" if resolved else "open",
            tiers=[],
            tier=tiers - 1,
            first_acknowledged_at=raised + timedelta(minutes=3) if resolved else None,
            acknowledged_by=world.nurse_a.user_id if resolved else None,
            at_bedside_at=raised + timedelta(minutes=30) if resolved else None,
            resolved_at=raised + timedelta(hours=1) if resolved else None,
            outcome=rng.choice(list(Outcome)) if resolved else None,
        )
        rows: list[Any] = [alert]
        targets = [world.nurse_a.user_id, world.coordinator.user_id, world.key_person.user_id]
        for tier in range(tiers):
            rows.append(
                AlertTier(
                    alert_id=alert.id,
                    climb=0,
                    tier=tier,
                    due_at=raised + timedelta(minutes=5 * tier),
                    fired_at=raised + timedelta(minutes=5 * tier),
                    fired_by="test:1",
                    rules=[["on_call_nurses", "coordinator", "key_person"][tier]],
                    target_ids=[str(targets[tier])],
                )
            )
        await add_rows(sessions, *rows)
        fired += tiers
    return count, fired


async def _course(
    sessions: Sessions, rng: random.Random, clock: Clock, world: World, case_id: uuid.UUID, received: date
) -> int:
    """The case's course by the course's own service: active, perhaps admitted (a hospital stay
    with its episode identifiers) and home again, and perhaps a death or a closing. The stays."""
    who = acting(world, "coordinator")
    now = clock.now()
    stays = 0
    if rng.random() < 0.15:
        return stays  # still referred
    async with sessions() as session, session.begin():
        await course.change_status(session, who, case_id, Status.ACTIVE, now, clock.today())
    for _ in range(rng.randrange(3)):
        admitted = _at(rng, received + timedelta(days=10), 30, clock)
        home = rng.random() < 0.7
        async with sessions() as session, session.begin():
            case = await session.get_one(Case, case_id)
            session.add(
                HospitalStay(
                    municipality_id=world.municipality_id,
                    citizen_id=case.citizen_id,
                    case_id=case_id,
                    episode_key=f"ep-{uuid.uuid4().hex[:12]}",
                    other_keys=[f"lpr3-{uuid.uuid4().hex[:12]}"],
                    status="home" if home else "admitted",
                    since=admitted,
                    encounter_class=rng.choice(("IMP", "EMER")),
                    department="Onkologisk afdeling",
                    department_sor="123456789012345",
                    admitted_at=admitted,
                    discharged_at=admitted + timedelta(days=2) if home else None,
                )
            )
            if Status(case.status) == Status.ACTIVE:
                await course.admit(session, who, case_id, admitted, None, course.Source.API, now)
                if home:
                    await course.home_again(session, who, case_id, admitted, course.Source.API, now)
        stays += 1
    ending = rng.random()
    async with sessions() as session, session.begin():
        if ending < 0.5:
            died = _at(rng, received + timedelta(days=45), 60, clock)
            place = rng.choice(list(Place))
            await course_death.died(session, who, case_id, place, died, course.Source.API, now)
        elif ending < 0.65:
            await course.close(session, who, case_id, now, course.Source.API, now)
    return stays
