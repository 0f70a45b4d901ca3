"""The letters Lindra fills in from a case, in Danish, for the author to edit before sending: the
status note (the citizen's health has changed), the closing note (the course ends) and the notice
of a death at home (the GP is asked for the death certificate). An audited read of the case."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.cases.models import Case, Citizen, Medicine, Place, StatusNote, Wish
from backend.clock import COPENHAGEN
from backend.errors import Problem
from backend.messages.letter_reads import visible_case
from backend.messages.schemas import DraftOut, LetterKind, Recipient
from backend.people.actor import Actor
from backend.people.models import User

CATEGORY = {
    LetterKind.STATUS_NOTE: "nursing",
    LetterKind.CLOSING_NOTE: "carecoordination",
    LetterKind.DEATH_NOTICE: "decease",
}
TOPIC = {
    LetterKind.STATUS_NOTE: "Statusnotat",
    LetterKind.CLOSING_NOTE: "Afslutningsnotat",
    LetterKind.DEATH_NOTICE: "Dødsfald i eget hjem",
}
PHASE = {"early": "tidlig palliativ fase", "late": "sen palliativ fase", "terminal": "terminal fase"}
WISH = {"yes": "ønsker at dø hjemme", "no": "ønsker ikke at dø hjemme", "undecided": "er i tvivl om stedet"}
INDICATION = {
    "pain": "smerter",
    "breathlessness": "åndenød",
    "nausea": "kvalme",
    "restlessness": "uro",
    "death_rattle": "dødsrallen",
}


async def draft(
    session: AsyncSession, actor: Actor, case_id: uuid.UUID, kind: LetterKind, recipient: Recipient, today: date
) -> DraftOut:
    """The letter of `kind` to `recipient`, filled in from the case."""
    case = await visible_case(session, actor, case_id)
    citizen = await session.get_one(Citizen, case.citizen_id)
    author = await session.get_one(User, actor.user_id)
    greeting = f"Med venlig hilsen\n{author.full_name}"
    if kind == LetterKind.DEATH_NOTICE:
        body = _death(case, citizen)
    else:
        lines = [f"{TOPIC[kind]} vedr. {citizen.name}, {case.diagnosis} ({PHASE.get(case.phase, case.phase)})."]
        lines += await _course(session, case, kind, today)
        body = "\n".join(lines)
    await audit.record(session, actor, "case.correspondence.draft", case_id=case.id, detail={"kind": kind.value})
    return DraftOut(
        kind=kind, recipient=recipient, category=CATEGORY[kind], topic=TOPIC[kind], text=f"{body}\n\n{greeting}"
    )


def _death(case: Case, citizen: Citizen) -> str:
    if case.died_at is None or case.death_place != Place.HOME:
        raise Problem(
            409,
            "No death at home",
            "Register the death at home on the case before this notice.",
            rule="no_death_at_home",
        )
    died = case.died_at.astimezone(COPENHAGEN)
    lines = [f"{citizen.name} døde i eget hjem {died:%d.%m.%Y} kl. {died:%H.%M}."]
    if case.death_present:
        lines.append(f"Til stede: {case.death_present}.")
    lines.append("Vi beder om, at der udstedes dødsattest.")
    return "\n".join(lines)


async def _course(session: AsyncSession, case: Case, kind: LetterKind, today: date) -> list[str]:
    lines = []
    wish = await session.scalar(select(Wish).where(Wish.case_id == case.id).order_by(Wish.recorded_at.desc()).limit(1))
    if wish is not None:
        lines.append(
            f"Borgeren {WISH.get(wish.dies_at_home, wish.dies_at_home)} (drøftet {wish.discussed_on:%d.%m.%Y})."
        )
    note = await session.scalar(
        select(StatusNote).where(StatusNote.case_id == case.id).order_by(StatusNote.created_at.desc()).limit(1)
    )
    if kind == LetterKind.STATUS_NOTE:
        lines.append(f"Seneste status: {note.text}" if note else "Seneste status: ")
        medicine = (
            await session.scalars(
                select(Medicine)
                .where(Medicine.case_id == case.id, Medicine.removed_at.is_(None), Medicine.expires_on >= today)
                .order_by(Medicine.indication)
            )
        ).all()
        kinds = sorted({INDICATION.get(m.indication, m.indication) for m in medicine})
        lines.append("PN-medicin i hjemmet mod: " + (", ".join(kinds) if kinds else "ingen registreret") + ".")
        return lines
    lines.append(
        f"Henvist {case.referral_received_on:%d.%m.%Y}"
        + (f", første kontakt {case.first_contact_on:%d.%m.%Y}" if case.first_contact_on else "")
        + (f", behovsvurdering {case.assessment_on:%d.%m.%Y}" if case.assessment_on else "")
        + "."
    )
    if case.died_at is not None:
        died = case.died_at.astimezone(COPENHAGEN)
        lines.append(f"Borgeren døde {died:%d.%m.%Y}" + (" i eget hjem." if case.death_place == Place.HOME else "."))
    lines.append("Forløbet i den kommunale palliative indsats afsluttes hermed.")
    return lines
