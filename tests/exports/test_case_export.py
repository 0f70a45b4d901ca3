"""A case as a FHIR R4 Bundle, on generated worlds: it validates (fhir.resources R4B, FHIRPath),
carries everything Lindra records about the case, is audited, and is only for those who may."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEntry
from backend.cli import main
from backend.clock import Clock
from backend.config import Settings
from tests.cases.helpers import Client, Sessions, case_page
from tests.exports.fhir_checks import check_bundle
from tests.exports.generated import GeneratedCase, GeneratedWorld, generate_world
from tests.factories import World, build_world

FHIR_JSON = "application/fhir+json"


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


async def export(client: Client, world: World, case: GeneratedCase) -> dict[str, Any]:
    response = await client.get(f"/cases/{case.case_id}/fhir", headers=world.coordinator.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    bundle: dict[str, Any] = response.json()
    return bundle


@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_every_generated_case_exports_as_a_valid_bundle_with_all_it_records(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock, seed: int
) -> None:
    generated: GeneratedWorld = await generate_world(client, sessions, settings, clock, seed)
    world = generated.world
    for case in generated.cases:
        bundle = await export(client, world, case)
        check_bundle(bundle)
        page = await case_page(client, world, str(case.case_id))

        [patient] = resources(bundle, "Patient")
        assert patient["identifier"][0]["value"] == case.cpr
        assert patient["name"][0]["text"] == case.name
        related = resources(bundle, "RelatedPerson")
        assert sorted(r["name"][0]["text"] for r in related) == sorted(case.relatives)
        children = [r for r in page["relatives"] if r["is_child"]]
        exported_children = [r for r in related if r["relationship"][0].get("coding", [{}])[0].get("code") == "CHILD"]
        assert sorted(r["birthDate"] for r in exported_children) == sorted(str(c["birth_year"]) for c in children)

        [episode] = resources(bundle, "EpisodeOfCare")
        history = [step["status"] for step in episode["statusHistory"]]
        assert history[0] == "planned" and history[-1] == episode["status"]
        periods = [step["period"] for step in episode["statusHistory"]]
        assert all(p["start"] <= p["end"] for p in periods[:-1]) and "end" not in periods[-1]
        assert [r["resourceType"] for r in resources(bundle, "CareTeam")] == ["CareTeam"]

        encounters = resources(bundle, "Encounter")
        home = [e for e in encounters if e["class"]["code"] == "HH"]
        stays = [e for e in encounters if e["class"]["code"] != "HH"]
        assert (len(home), len(stays)) == (case.visits, case.stays)
        assert all(len(s["identifier"]) == 2 and s["identifier"][0]["value"].startswith("ep-") for s in stays)
        missed = [e for e in home if e["extension"][0]["valueCode"] == "missed"]
        assert all(e["status"] == "cancelled" for e in missed)

        observations = resources(bundle, "Observation")
        assert len(observations) == case.scored_items
        assert all(o["method"]["text"] in o["code"]["text"] for o in observations)

        flags = Counter(f["code"]["coding"][0]["code"] for f in resources(bundle, "Flag"))
        assert flags["medicine_missing"] == ("medicine_missing" in page["flags"])
        assert sum(n for code, n in flags.items() if code != "medicine_missing") == case.has_wish

        communications = resources(bundle, "Communication")
        assert len(communications) == case.alerts + case.tiers
        tiers = [c for c in communications if "inResponseTo" in c]
        assert len(tiers) == case.tiers and all(c["category"][0]["coding"][0]["code"] == "alert" for c in tiers)

    async with sessions() as session:
        audited = await session.scalars(
            select(AuditEntry.case_id).where(
                AuditEntry.action == "case.export.fhir", AuditEntry.user_id == world.coordinator.user_id
            )
        )
        assert sorted(str(a) for a in audited) == sorted(str(c.case_id) for c in generated.cases)


async def test_only_the_case_managers_of_its_municipality_take_a_case_out(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    generated = await generate_world(client, sessions, settings, clock, seed=5, cases=1)
    world, [case] = generated.world, generated.cases
    neighbour = await build_world(sessions, settings, clock, neighbour_of=world)
    path = f"/cases/{case.case_id}/fhir"
    for login in (world.nurse_a, world.admin, world.unit):
        refused = await client.get(path, headers=login.headers)
        assert refused.status_code == 403, refused.text
    foreign = await client.get(path, headers=neighbour.coordinator.headers)
    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")
    assert case.cpr not in foreign.text
    async with sessions() as session:
        exported = await session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "case.export.fhir", AuditEntry.case_id == case.case_id)
        )
    assert exported is None  # a refusal exports nothing, and logs no export
    key_person = await client.get(path, headers=world.key_person.headers)
    assert key_person.status_code == 200


async def test_the_municipalitys_care_record_system_reads_its_own_cases_and_nothing_else(
    client: Client,
    sessions: Sessions,
    settings: Settings,
    clock: Clock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    generated = await generate_world(client, sessions, settings, clock, seed=7, cases=1)
    world, [case] = generated.world, generated.cases
    neighbour = await build_world(sessions, settings, clock, neighbour_of=world)
    monkeypatch.setenv("DATABASE_URL", database_url)

    async def system_client(municipality: World, *role: str) -> dict[str, str]:
        """`lindra client create` by the operator; the client's headers with the secret it printed."""
        command = ["client", "create", "--municipality", str(municipality.municipality_id), "--name", "EOJ", *role]
        assert await asyncio.to_thread(main, command) == 0
        return {"Authorization": "Bearer " + capsys.readouterr().out.strip().splitlines()[-1]}

    ours = await system_client(world, "--role", "care_record")
    path = f"/cases/{case.case_id}/fhir"
    read = await client.get(f"/care-record{path}", headers=ours)
    assert read.status_code == 200, read.text
    bundle = read.json()
    check_bundle(bundle)
    assert resources(bundle, "Patient")[0]["identifier"][0]["value"] == case.cpr
    async with sessions() as session:
        audited = (
            await session.execute(
                select(AuditEntry.role, AuditEntry.user_id).where(
                    AuditEntry.action == "case.export.fhir", AuditEntry.case_id == case.case_id
                )
            )
        ).all()
    assert [role for role, _ in audited] == ["care_record"]  # under the client, by its own role

    theirs = await system_client(neighbour, "--role", "care_record")
    broker = await system_client(world)  # an inbox client: delivers messages, reads nothing
    answers = {
        "the neighbour's care-record system": await client.get(f"/care-record{path}", headers=theirs),
        "the municipality's message broker": await client.get(f"/care-record{path}", headers=broker),
        "a person's login": await client.get(f"/care-record{path}", headers=world.coordinator.headers),
        "the care-record system on a person's route": await client.get(path, headers=ours),
    }
    assert {who: a.status_code for who, a in answers.items()} == {
        "the neighbour's care-record system": 404,
        "the municipality's message broker": 403,
        "a person's login": 401,
        "the care-record system on a person's route": 401,
    }
    assert all(case.cpr not in a.text for a in answers.values())
