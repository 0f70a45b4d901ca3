"""The national export as a background job: it survives its worker's death (rows, not memory),
and bad input or a caller who may not see it gets a clear problem with nothing half-written."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import func, select

from backend.clock import Clock
from backend.config import Settings
from backend.exports import bulk
from backend.exports.models import BulkExport, BulkExportLine, ExportStatus
from tests.cases.helpers import Client, Sessions, write_headers
from tests.exports.generated import generate_world
from tests.exports.national_helpers import export, finished, period
from tests.factories import World, build_world
from tests.visits.coordination_helpers import add_rows, move_to


async def held_job(sessions: Sessions, world: World, clock: Clock) -> tuple[uuid.UUID, uuid.UUID]:
    """A job of the world's whole generated period, held by a worker (its lease running): (id, token).
    Any other worker (the test app's own scheduler included) leaves it alone until the lease ends."""
    token = uuid.uuid4()
    days = period(clock)
    job = BulkExport(
        municipality_id=world.municipality_id,
        requested_by=world.coordinator.user_id,
        first_day=date.fromisoformat(days["from"]),
        last_day=date.fromisoformat(days["to"]),
        status=ExportStatus.RUNNING,
        claim_token=token,
        claimed_until=clock.now() + bulk.LEASE,
        attempts=1,
        started_at=clock.now(),
    )
    await add_rows(sessions, job)
    return job.id, token


async def test_a_job_whose_worker_died_half_way_is_finished_by_the_next_without_writing_twice(
    client: Client, sessions: Sessions, settings: Settings, restore_clock: Clock
) -> None:
    clock = restore_clock
    generated = await generate_world(client, sessions, settings, clock, seed=41, cases=3)
    world = generated.world
    reference, _ = await export(client, sessions, settings, clock, world.coordinator, period(clock))

    export_id, token = await held_job(sessions, world, clock)
    status_path = f"/exports/national/{export_id}"
    assert not await bulk.write_export(sessions, export_id, token, clock, types=2)  # the worker dies here
    half = await client.get(status_path, headers=world.coordinator.headers)
    assert half.status_code == 202 and half.headers["x-progress"].startswith("2 of 5")
    assert await bulk.run_exports(sessions, settings, clock) == 0  # its lease still holds: nobody takes it
    assert (await client.get(status_path, headers=world.coordinator.headers)).headers["x-progress"] == (
        half.headers["x-progress"]
    )

    move_to(clock, clock.now() + bulk.LEASE + timedelta(seconds=1), settings, world)
    await bulk.run_exports(sessions, settings, clock)  # the next worker (or the app's) finishes it
    manifest = await finished(client, world.coordinator, status_path)
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts == {kind: len(lines) for kind, lines in reference.items()}
    async with sessions() as session:
        written = await session.scalar(
            select(func.count()).select_from(BulkExportLine).where(BulkExportLine.export_id == export_id)
        )
        job = await session.get_one(BulkExport, export_id)
    assert written == sum(counts.values()) and job.attempts == 2


async def test_an_export_without_an_end_or_out_of_reach_is_refused_and_nothing_is_written(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    world = await build_world(sessions, settings, clock)
    today = clock.today()
    refused = {
        "no end": ({"from": "2026-01-01"}, 400, "to"),
        "no start": ({"to": "2026-01-31"}, 400, "from"),
        "end before start": ({"from": "2026-02-01", "to": "2026-01-31"}, 422, "to"),
        "longer than a year": ({"from": "2024-01-01", "to": "2025-06-30"}, 422, "to"),
        "not ended": ({"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}, 422, "to"),
        "not a date": ({"from": "2026-01-01", "to": "31-01-2026"}, 400, "to"),
    }
    for name, (params, status, field) in refused.items():
        response = await client.post("/exports/national", params=params, headers=write_headers(world.coordinator))
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == field, name
    for login in (world.nurse_a, world.admin, world.unit):
        forbidden = await client.post("/exports/national", params=period(clock), headers=write_headers(login))
        assert forbidden.status_code == 403
    async with sessions() as session:
        jobs = await session.scalar(
            select(func.count()).select_from(BulkExport).where(BulkExport.municipality_id == world.municipality_id)
        )
    assert jobs == 0

    # A retry with the same key is the same export; another municipality cannot see it at all.
    headers = write_headers(world.coordinator)
    first = await client.post("/exports/national", params=period(clock), headers=headers)
    again = await client.post("/exports/national", params=period(clock), headers=headers)
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotency-replayed"] == "true"
    status_path = first.json()["status_url"]
    held, _ = await held_job(sessions, world, clock)
    early = await client.get(f"/exports/national/{held}/files/Patient", headers=world.coordinator.headers)
    assert early.status_code == 404  # not written yet
    neighbour = await build_world(sessions, settings, clock, neighbour_of=world)
    await bulk.run_exports(sessions, settings, clock)
    await finished(client, world.coordinator, status_path)
    for path in (status_path, f"{status_path}/files/Patient"):
        foreign = await client.get(path, headers=neighbour.coordinator.headers)
        assert foreign.status_code == 404 and foreign.headers["content-type"].startswith("application/problem+json")
    unknown = await client.get(f"{status_path}/files/Practitioner", headers=world.coordinator.headers)
    assert unknown.status_code == 404
    nurse = await client.get(status_path, headers=world.nurse_a.headers)
    assert nurse.status_code == 403


async def test_written_files_are_deleted_a_week_after_they_were_written(
    client: Client, sessions: Sessions, settings: Settings, clock: Clock
) -> None:
    generated = await generate_world(client, sessions, settings, clock, seed=51, cases=1)
    world = generated.world
    await export(client, sessions, settings, clock, world.coordinator, period(clock))
    async with sessions() as session:
        [job] = await session.scalars(select(BulkExport).where(BulkExport.municipality_id == world.municipality_id))
    assert job.finished_at is not None
    kept = job.finished_at + bulk.RETENTION - timedelta(minutes=1)
    async with sessions() as session, session.begin():
        await bulk.purge_exports(session, settings, kept)
    status_path = f"/exports/national/{job.id}"
    assert (await client.get(f"{status_path}/files/Patient", headers=world.coordinator.headers)).status_code == 200

    async with sessions() as session, session.begin():
        assert await bulk.purge_exports(session, settings, job.finished_at + bulk.RETENTION + timedelta(minutes=1)) >= 1
    for path in (status_path, f"{status_path}/files/Patient"):
        assert (await client.get(path, headers=world.coordinator.headers)).status_code == 404
    async with sessions() as session:
        lines = await session.scalar(
            select(func.count()).select_from(BulkExportLine).where(BulkExportLine.export_id == job.id)
        )
    assert lines == 0
