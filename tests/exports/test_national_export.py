"""The national data set on generated worlds: every line validates, it carries what the
indicators are made of, holds no CPR number or name anywhere, and names each citizen by a
pseudonym that stays the same across exports and differs under another municipality's secret."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from backend.alerts.models import Alert
from backend.cases.models import Case, Wish
from backend.cases.workdays import working_days_between
from backend.cli import main
from backend.clock import Clock
from backend.config import Settings
from backend.exports.pseudonyms import pseudonym
from backend.messages.models import HospitalStay
from backend.people.models import User
from backend.visits.models import SymptomAssessment, Visit
from tests.cases.helpers import Client, Sessions, create_case
from tests.exports.fhir_checks import check_resource
from tests.exports.generated import generate_world
from tests.exports.national_helpers import Files, days, export, period, pseudonyms_of
from tests.factories import build_world

EXT = "https://lindra.dk/fhir/StructureDefinition/"


def extensions(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        e["url"].removeprefix(EXT): next(v for k, v in e.items() if k.startswith("value"))
        for e in resource.get("extension", [])
    }


async def expected_episode(sessions: Sessions, case_id: uuid.UUID) -> dict[str, Any]:
    """The episode's indicator extensions, worked out from the rows here."""
    async with sessions() as session:
        case = await session.get_one(Case, case_id)
        wish = (
            await session.scalars(
                select(Wish).where(Wish.case_id == case_id).order_by(Wish.recorded_at.desc(), Wish.id).limit(1)
            )
        ).first()
        stays = list(await session.scalars(select(HospitalStay).where(HospitalStay.case_id == case_id)))
    received = case.referral_received_on
    found: dict[str, Any] = {
        "referral-source": case.referral_source,
        "first-contact-due": case.first_contact_due.isoformat(),
        "assessment-due": case.assessment_due.isoformat(),
        "first-contact-calendar-days": days(received, case.first_contact_on),
        "assessment-calendar-days": days(received, case.assessment_on),
        "wish-to-die-at-home": wish.dies_at_home if wish else None,
        "wished-place-of-death": wish.preferred_place_of_death if wish else None,
        "place-of-death": case.death_place,
    }
    for name, met in (("first-contact", case.first_contact_on), ("assessment", case.assessment_on)):
        if met is not None:
            found[name] = met.isoformat()
            found[f"{name}-working-days"] = working_days_between(received, met)
    if wish and wish.preferred_place_of_death and case.death_place:
        found["died-where-wished"] = wish.preferred_place_of_death == case.death_place
    if (died := case.died_at) is not None:
        admitted = [s.admitted_at for s in stays if s.admitted_at is not None]
        last_month = [at for at in admitted if died - timedelta(days=30) <= at < died]
        found["admissions-last-30-days"] = len(last_month)
    return {k: v for k, v in found.items() if v is not None}


def references(files: Files, kind: str, element: str) -> set[str]:
    found = set()
    for resource in files[kind]:
        value = resource.get(element)
        for ref in value if isinstance(value, list) else [value] if value else []:
            found.add(ref["reference"])
    return found


@pytest.mark.parametrize("seed", [21, 22])
async def test_the_data_set_validates_carries_the_indicators_and_names_nobody(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock, seed: int
) -> None:
    generated = await generate_world(client, sessions, settings, clock, seed, cases=5)
    world = generated.world
    files, raw = await export(client, sessions, settings, clock, world.coordinator, period(clock))

    for lines in files.values():
        for resource in lines:
            check_resource(resource)
    everything = "\n".join(raw.values())
    async with sessions() as session:
        staff = set(
            await session.scalars(select(User.full_name).where(User.id.in_(u.user_id for u in world.users.values())))
        )
    found = sorted(word for word in generated.personal_words() | staff if word in everything)
    assert found == []  # no CPR number and no name (citizen, relative, staff) anywhere, in any file
    for case in generated.cases:
        assert str(case.case_id) not in everything  # nor Lindra's own ids

    cases = generated.cases
    patients = await pseudonyms_of(sessions, world.municipality_id, [c.cpr for c in cases])
    assert sorted(p["id"] for p in files["Patient"]) == sorted(set(patients))
    patient_refs = {f"Patient/{p}" for p in patients}
    for kind in ("EpisodeOfCare", "Encounter", "Observation", "Communication"):
        element = "patient" if kind == "EpisodeOfCare" else "subject"
        assert references(files, kind, element) <= patient_refs, kind
    episodes = {e["id"]: e for e in files["EpisodeOfCare"]}
    assert references(files, "Encounter", "episodeOfCare") <= {f"EpisodeOfCare/{e}" for e in episodes}

    async with sessions() as session:
        secret_patients = dict(zip([c.case_id for c in cases], patients, strict=True))
        for case in cases:
            episode_id = next(
                e
                for e, r in episodes.items()
                if r["patient"]["reference"] == f"Patient/{secret_patients[case.case_id]}"
            )
            assert extensions(episodes[episode_id]) == await expected_episode(sessions, case.case_id), case
        ids = [c.case_id for c in cases]
        visits = Counter(await session.scalars(select(Visit.status).where(Visit.case_id.in_(ids))))
        assessments = await session.scalar(select(func.count()).where(SymptomAssessment.case_id.in_(ids)))
        outcomes = Counter(await session.scalars(select(Alert.outcome).where(Alert.case_id.in_(ids))))
    home = [e for e in files["Encounter"] if e["class"]["code"] == "HH"]
    assert Counter(extensions(e)["visit-outcome"] for e in home) == visits  # done, missed, cancelled
    assert len(files["Observation"]) == assessments
    assert Counter(extensions(c).get("alert-outcome") for c in files["Communication"]) == outcomes


async def test_a_citizen_keeps_her_pseudonym_across_exports_and_another_municipality_gives_another(
    client: Client,
    sessions: Sessions,
    settings: Settings,
    clock: Clock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    generated = await generate_world(client, sessions, settings, clock, seed=31, cases=2)
    world, cases = generated.world, generated.cases
    first, _ = await export(client, sessions, settings, clock, world.coordinator, period(clock))
    second, _ = await export(client, sessions, settings, clock, world.coordinator, period(clock))
    assert sorted(p["id"] for p in first["Patient"]) == sorted(p["id"] for p in second["Patient"])
    assert sorted(e["id"] for e in first["EpisodeOfCare"]) == sorted(e["id"] for e in second["EpisodeOfCare"])

    # The same person, registered next door too: the neighbour's secret gives her another pseudonym.
    neighbour = await build_world(sessions, settings, clock, neighbour_of=world)
    received = clock.today() - timedelta(days=20)
    await create_case(client, neighbour.coordinator, neighbour.district_a, received, cpr=cases[0].cpr)
    theirs, _ = await export(client, sessions, settings, clock, neighbour.coordinator, period(clock))
    [their_patient] = theirs["Patient"]
    assert their_patient["id"] not in {p["id"] for p in first["Patient"]}
    assert their_patient["id"] == (await pseudonyms_of(sessions, neighbour.municipality_id, [cases[0].cpr]))[0]

    # The operator sets a secret of her own (`lindra export-secret set`, the secret on stdin): every
    # pseudonym changes, to the HMAC under it, and the secret is shown nowhere.
    operator_secret = b"the operator's own secret, 32 b."
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(operator_secret.decode() + "\n"))
    command = ["export-secret", "set", "--municipality", str(world.municipality_id)]
    assert await asyncio.to_thread(main, command) == 0
    assert operator_secret.decode() not in "".join(capsys.readouterr())
    third, _ = await export(client, sessions, settings, clock, world.coordinator, period(clock))
    expected = {pseudonym(operator_secret, "citizen", c.cpr) for c in cases}
    assert {p["id"] for p in third["Patient"]} == expected
    assert expected.isdisjoint(p["id"] for p in first["Patient"])


async def test_working_days_leave_out_easter_and_calendar_days_do_not(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    world = await build_world(sessions, settings, clock)
    # Referred Monday 30 March 2026; first contact Wednesday 8 April, assessed Wednesday 15 April.
    created = await create_case(client, world.coordinator, world.district_a, date(2026, 3, 30))
    async with sessions() as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(created["id"]))
            .values(first_contact_on=date(2026, 4, 8), assessment_on=date(2026, 4, 15))
        )
    files, _ = await export(
        client, sessions, settings, clock, world.coordinator, {"from": "2026-03-01", "to": "2026-04-30"}
    )
    [episode] = files["EpisodeOfCare"]
    figures = extensions(episode)
    # Maundy Thursday 2 April, Good Friday 3 April and Easter Monday 6 April are days off, as are weekends.
    assert (figures["first-contact-calendar-days"], figures["first-contact-working-days"]) == (9, 4)
    assert (figures["assessment-calendar-days"], figures["assessment-working-days"]) == (16, 9)
