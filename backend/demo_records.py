"""The records around each demo case: the terminal declaration, talks about wishes, the death,
the medicine in the home, the relatives (children too), the action plan and the status notes.

All drawn from the demo's one seeded generator, in a fixed order, so every load gives the same.
`backend.demo` makes the organisations, people and cases these belong to.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend import demo_data as d
from backend.cases.models import (
    ActionPlan,
    Application,
    Case,
    HomeDeathWish,
    Indication,
    Medicine,
    Place,
    Relative,
    StatusNote,
    Wish,
)
from backend.clock import COPENHAGEN
from backend.people.models import User


def phone(rng: random.Random) -> str:
    """A Danish mobile number, fictional."""
    return f"+45 {rng.randint(20, 61)}{rng.randint(10, 99)} {rng.randint(1000, 9999)}"


class CaseRecords:
    """The generator, the demo's clock, and the records made around a case."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self.session = session
        self.now = now
        self.today = now.astimezone(COPENHAGEN).date()
        self.rng = random.Random(d.SEED)
        self.terminal_seen = 0
        self.children_seen = 0

    def id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """A Copenhagen time of day, never later than now."""
        return min(self.now, datetime(day.year, day.month, day.day, hour, minute, tzinfo=COPENHAGEN))

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
            self.session.add(Relative(id=self.id(), case_id=case.id, phone=phone(rng), **row))

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
