"""The case page: everything about one case, gathered by PostgreSQL in a single query.

One round trip matters: the case page is read at every door and every phone call. PostgreSQL
builds the JSON; Python decodes it into typed rows and derives the flags a person must see.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import asyncpg
import msgspec

from backend.cases import schemas as s
from backend.cases.access import Positional, scope_sql
from backend.cases.cpr import birth_date
from backend.cases.models import Indication, Place, Status
from backend.cases.rules import NEXT_STATUSES, deadline_state
from backend.errors import not_found
from backend.people.actor import Actor, SystemActor

EXPIRY_WARNING = timedelta(days=7)

# The read and its audit row are one statement: atomic without a transaction of its own.
_PAGE_SQL = """
WITH visible AS (SELECT cases.* FROM cases WHERE cases.id = $1 AND ({scope})),
     audit AS (INSERT INTO audit_log (user_id, role, action, case_id, request_id)
               SELECT $2, $3, $5, id, $4 FROM visible)
SELECT json_build_object(
    'case', row_to_json(cases.*),
    'citizen', (SELECT row_to_json(ci) FROM citizens ci WHERE ci.id = cases.citizen_id),
    'wishes', COALESCE((SELECT json_agg(w ORDER BY w.recorded_at DESC, w.id)
                        FROM case_wishes w WHERE w.case_id = cases.id), '[]'),
    'medicines', COALESCE((SELECT json_agg(m ORDER BY m.indication, m.expires_on)
                           FROM anticipatory_medicines m WHERE m.case_id = cases.id AND m.removed_at IS NULL), '[]'),
    'relatives', COALESCE((SELECT json_agg(r ORDER BY r.created_at, r.id)
                           FROM relatives r WHERE r.case_id = cases.id AND r.removed_at IS NULL), '[]'),
    'plan', (SELECT row_to_json(p) FROM action_plans p WHERE p.case_id = cases.id ORDER BY p.version DESC LIMIT 1),
    'notes', COALESCE((SELECT json_agg(n) FROM (SELECT * FROM status_notes WHERE case_id = cases.id
                                                ORDER BY created_at DESC, id LIMIT 20) n), '[]'),
    'people', (SELECT json_object_agg(u.id, u.full_name) FROM users u
               WHERE u.id IN (cases.contact_person_id, cases.key_person_id)),
    'team_name', (SELECT o.name FROM organisations o WHERE o.id = cases.palliative_team_id)
)::text
FROM visible AS cases
"""


class _CaseRow(msgspec.Struct):
    id: uuid.UUID
    municipality_id: uuid.UUID
    district_id: uuid.UUID
    diagnosis: str
    icd10: str | None
    phase: str
    status: str
    terminal_declared_on: date | None
    terminal_grant: str
    carers_leave: str
    contact_person_id: uuid.UUID | None
    key_person_id: uuid.UUID | None
    gp_name: str | None
    gp_phone: str | None
    hospital_department: str | None
    gp_sor: str | None
    gp_ean: str | None
    hospital_department_sor: str | None
    hospital_department_ean: str | None
    palliative_team_id: uuid.UUID | None
    referral_received_on: date
    referral_source: str
    first_contact_due: date
    assessment_due: date
    first_contact_on: date | None
    assessment_on: date | None
    unit_referred_at: datetime | None
    died_at: datetime | None
    death_place: str | None
    death_present: str | None
    gp_informed: bool | None
    created_at: datetime
    updated_at: datetime


class _CitizenRow(msgspec.Struct):
    cpr: str
    name: str
    address: str
    phone: str | None


class _RelativeRow(msgspec.Struct):
    id: uuid.UUID
    name: str
    relation: str
    phone: str | None
    primary_contact: bool
    lives_with_citizen: bool
    consent_to_information: bool
    birth_year: int | None
    talks_with_child: str | None
    support_offered: bool | None


class _PageRow(msgspec.Struct):
    case: _CaseRow
    citizen: _CitizenRow
    wishes: list[s.WishOut]
    medicines: list[s.MedicineOut]
    relatives: list[_RelativeRow]
    plan: s.ActionPlanOut | None
    notes: list[s.StatusNoteOut]
    people: dict[uuid.UUID, str] | None
    team_name: str | None


_decode_page = msgspec.json.Decoder(_PageRow).decode


async def load_page(
    pg: asyncpg.Connection, actor: Actor, case_id: uuid.UUID, today: date, action: str = "case.read"
) -> s.CasePage:
    """The whole case as the actor may see it, audited as `action` (a read, or an export that
    starts with it); 404 whether it is missing or not theirs."""
    params = Positional(case_id, actor.user_id, actor.role.value, actor.request_id, action)
    return await _load(pg, scope_sql(actor, params), params, today)


async def load_page_for_system(
    pg: asyncpg.Connection, who: SystemActor, municipality_id: uuid.UUID, case_id: uuid.UUID, today: date, action: str
) -> s.CasePage:
    """The case for a system client of its municipality (a care-record system), audited under the client."""
    params = Positional(case_id, who.client_id, who.role.value, who.request_id, action)
    return await _load(pg, f"cases.municipality_id = {params(municipality_id)}", params, today)


async def _load(pg: asyncpg.Connection, scope: str, params: Positional, today: date) -> s.CasePage:
    raw = await pg.fetchval(_PAGE_SQL.format(scope=scope), *params.values)
    if raw is None:
        raise not_found("case")
    return build_page(_decode_page(raw), today)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def expiry_state(expires_on: date, today: date) -> str:
    """`ok`, `expires_soon` (within 7 days) or `expired`: the words the case page and the phone show."""
    if expires_on < today:
        return "expired"
    return "expires_soon" if expires_on <= today + EXPIRY_WARNING else "ok"


def missing_indications(covered: set[str]) -> list[Indication]:
    """The indications with no unexpired medicine in the home."""
    return [i for i in Indication if i not in covered]


def age_this_year(birth_year: int | None, today: date) -> int | None:
    """A relative's age from the birth year alone (all the record holds)."""
    return today.year - birth_year if birth_year is not None else None


def medicine_status(items: list[s.MedicineOut], today: date) -> s.MedicineStatus:
    """What is in the home, what is missing, what expires within 7 days and what has expired."""
    for item in items:
        item.state = expiry_state(item.expires_on, today)
    return s.MedicineStatus(
        items=items,
        missing=missing_indications({m.indication for m in items if m.state != "expired"}),
        expiring_soon=[m.id for m in items if m.state == "expires_soon"],
        expired=[m.id for m in items if m.state == "expired"],
    )


def _relative(row: _RelativeRow, today: date) -> s.RelativeOut:
    age = age_this_year(row.birth_year, today)
    is_child = age is not None and age < 18
    return s.RelativeOut(
        id=row.id,
        name=row.name,
        relation=row.relation,
        phone=row.phone,
        primary_contact=row.primary_contact,
        lives_with_citizen=row.lives_with_citizen,
        consent_to_information=row.consent_to_information,
        birth_year=row.birth_year,
        age=age,
        is_child=is_child,
        talks_with_child=row.talks_with_child,
        support_offered=row.support_offered,
        needs_support_offer=is_child and not row.support_offered,
    )


def _person(people: dict[uuid.UUID, str], person_id: uuid.UUID | None) -> s.PersonRef | None:
    return s.PersonRef(id=person_id, name=people.get(person_id, "")) if person_id else None


def build_page(row: _PageRow, today: date) -> s.CasePage:
    case, people = row.case, row.people or {}
    born = birth_date(row.citizen.cpr)
    medicine = medicine_status(row.medicines, today)
    relatives = [_relative(r, today) for r in row.relatives]
    first_contact = s.Deadline(
        due=case.first_contact_due,
        met_on=case.first_contact_on,
        state=deadline_state(case.first_contact_due, case.first_contact_on, today),
    )
    assessment = s.Deadline(
        due=case.assessment_due,
        met_on=case.assessment_on,
        state=deadline_state(case.assessment_due, case.assessment_on, today),
    )
    wish = row.wishes[0] if row.wishes else None
    death = None
    if case.died_at is not None and case.death_place is not None:
        preferred = wish.preferred_place_of_death if wish else None
        death = s.DeathOut(
            died_at=case.died_at,
            place=Place(case.death_place),
            present=case.death_present,
            gp_informed=bool(case.gp_informed),
            preferred_place=preferred,
            died_where_wished=(preferred == case.death_place) if preferred else None,
        )
    status = Status(case.status)
    flags = _flags(status, case.phase, medicine, relatives, first_contact, assessment)
    return s.CasePage(
        id=case.id,
        citizen=s.CitizenOut(
            cpr=row.citizen.cpr,
            name=row.citizen.name,
            address=row.citizen.address,
            phone=row.citizen.phone,
            birth_date=born,
            age=_age(born, today),
        ),
        municipality_id=case.municipality_id,
        district_id=case.district_id,
        diagnosis=case.diagnosis,
        icd10=case.icd10,
        phase=s.Phase(case.phase),
        status=status,
        next_statuses=sorted(NEXT_STATUSES[status]),
        wish=wish,
        wish_history=row.wishes,
        terminal=s.TerminalOut(
            declared_on=case.terminal_declared_on,
            terminal_grant=s.Application(case.terminal_grant),
            carers_leave=s.Application(case.carers_leave),
        ),
        medicine=medicine,
        relatives=relatives,
        care_team=s.CareTeam(
            contact_person=_person(people, case.contact_person_id),
            key_person=_person(people, case.key_person_id),
            gp_name=case.gp_name,
            gp_phone=case.gp_phone,
            hospital_department=case.hospital_department,
            gp_sor=case.gp_sor,
            gp_ean=case.gp_ean,
            hospital_department_sor=case.hospital_department_sor,
            hospital_department_ean=case.hospital_department_ean,
            palliative_team=s.PersonRef(id=case.palliative_team_id, name=row.team_name or "")
            if case.palliative_team_id
            else None,
        ),
        referral=s.ReferralOut(
            received_on=case.referral_received_on,
            source=s.ReferralSource(case.referral_source),
            first_contact=first_contact,
            needs_assessment=assessment,
        ),
        action_plan=row.plan,
        status_notes=row.notes,
        death=death,
        unit_referred_at=case.unit_referred_at,
        flags=flags,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _flags(
    status: Status,
    phase: str,
    medicine: s.MedicineStatus,
    relatives: list[s.RelativeOut],
    first_contact: s.Deadline,
    assessment: s.Deadline,
) -> list[str]:
    flags: list[str] = []
    if status in (Status.DECEASED, Status.CLOSED):
        return flags
    if medicine.missing and (phase == "terminal" or not medicine.items):
        flags.append("medicine_missing")
    if medicine.expiring_soon:
        flags.append("medicine_expiring")
    if medicine.expired:
        flags.append("medicine_expired")
    if any(r.needs_support_offer for r in relatives):
        flags.append("child_without_support")
    for name, deadline in (("first_contact", first_contact), ("assessment", assessment)):
        if deadline.state in ("overdue", "due_soon"):
            flags.append(f"{name}_{deadline.state}")
    return flags
