"""The national data set as a FHIR Bulk Data style `$export`: kick-off, status, manifest, files,
and the worker that writes them.

A kick-off only writes a job row (`bulk_exports`) and answers 202 with where to poll. The worker
(`run_exports`, a scheduled job) claims a waiting job with `FOR UPDATE SKIP LOCKED` and a lease,
and writes one resource type per transaction (`backend.exports.national`), naming it done in the
same transaction. A worker that dies leaves the types it finished; after the lease another takes
the job over from there. A file is read back line by line from its rows through a cursor, so
neither writing nor downloading holds a file in memory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import asyncpg
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.functions import coalesce

from backend.audit import service as audit
from backend.board.indicators import period
from backend.cases.workdays import public_holidays
from backend.clock import Clock
from backend.config import Settings
from backend.errors import Problem, not_found
from backend.exports import national
from backend.exports.models import BulkExport, ExportStatus
from backend.exports.pseudonyms import pseudonym, secret_of
from backend.exports.schemas import ExportAccepted, Manifest, OutputFile
from backend.people.actor import Actor
from backend.row_scope import acquire, of_actor

log = logging.getLogger("lindra.exports")

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 3
# How long written files are kept for their callers to download; then the job and its lines go.
RETENTION = timedelta(days=7)
NDJSON = "application/fhir+ndjson"
CHUNK_BYTES = 64 * 1024  # a download is sent in pieces of about this size


def status_path(export_id: uuid.UUID) -> str:
    return f"/exports/national/{export_id}"


async def kick_off(session: AsyncSession, actor: Actor, first_day: date, last_day: date, today: date) -> ExportAccepted:
    """A job for the actor's municipality and the Copenhagen days `first_day`..`last_day`: the
    period must have ended (a data set of days still running would change after it was sent)."""
    if actor.municipality_id is None:
        raise not_found("municipality")
    period(first_day, last_day)  # to before from, or too long: 422 naming `to`
    if last_day >= today:
        raise Problem(
            422,
            "Period not ended",
            "A data set is exported for days that have ended: `to` must be before today.",
            field="to",
            rule="period_not_ended",
        )
    job = BulkExport(
        municipality_id=actor.municipality_id, requested_by=actor.user_id, first_day=first_day, last_day=last_day
    )
    session.add(job)
    await session.flush()
    detail = {"export_id": str(job.id), "from": first_day.isoformat(), "to": last_day.isoformat()}
    await audit.record(session, actor, "export.national.start", detail=detail)
    return ExportAccepted(job.id, ExportStatus.QUEUED, first_day, last_day, status_path(job.id))


async def job_of(session: AsyncSession, actor: Actor, export_id: uuid.UUID) -> BulkExport:
    """The actor's municipality's job (404 for any other: ids cannot be probed)."""
    job = await session.scalar(
        select(BulkExport).where(BulkExport.id == export_id, BulkExport.municipality_id == actor.municipality_id)
    )
    if job is None:
        raise not_found("export")
    return job


def failed(job: BulkExport) -> Problem:
    """A job the workers gave up on: FHIR Bulk Data answers its status request with an error."""
    return Problem(
        500,
        "Export failed",
        f"The export could not be written ({job.error}); kick off a new one.",
        rule="export_failed",
    )


def progress(job: BulkExport) -> str:
    """The X-Progress header while it runs: resource types written, resources so far."""
    written = sum(int(n) for n in job.counts.values())
    return f"{len(job.types_done)} of {len(national.RESOURCE_TYPES)} resource types written, {written} resources"


def manifest(job: BulkExport, base_url: str) -> Manifest:
    """The finished job's manifest: one file per resource type, with its count (an empty one too)."""
    assert job.started_at is not None
    files = [
        OutputFile(kind, f"{base_url}{status_path(job.id)}/files/{kind}", int(job.counts.get(kind, 0)))
        for kind in national.RESOURCE_TYPES
    ]
    request = f"{base_url}/exports/national?from={job.first_day.isoformat()}&to={job.last_day.isoformat()}"
    return Manifest(job.started_at, request, True, files, [])


async def check_file(session: AsyncSession, actor: Actor, export_id: uuid.UUID, resource_type: str) -> None:
    """A file the actor may download: of a finished job of hers, of a type it has; audited."""
    job = await job_of(session, actor, export_id)
    if job.status != ExportStatus.DONE or resource_type not in national.RESOURCE_TYPES:
        raise not_found("export file")
    detail = {"export_id": str(export_id), "type": resource_type}
    await audit.record(session, actor, "export.national.download", detail=detail)


_LINES = "SELECT line FROM bulk_export_lines WHERE export_id = $1 AND resource_type = $2 ORDER BY line_no"


async def file_chunks(
    pool: asyncpg.Pool, actor: Actor, export_id: uuid.UUID, resource_type: str
) -> AsyncIterator[bytes]:
    """The file's NDJSON, read through a cursor and sent in pieces of about `CHUNK_BYTES`."""
    async with acquire(pool, of_actor(actor)) as connection, connection.transaction():
        piece: list[str] = []
        size = 0
        async for record in connection.cursor(_LINES, export_id, resource_type, prefetch=1000):
            piece.append(record[0])
            size += len(record[0]) + 1
            if size >= CHUNK_BYTES:
                yield ("\n".join(piece) + "\n").encode()
                piece, size = [], 0
        if piece:
            yield ("\n".join(piece) + "\n").encode()


# ---- the worker -------------------------------------------------------------------------------


async def purge_exports(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Delete the exports finished or given up on more than `RETENTION` ago, their lines with them:
    pseudonymised health data is not kept once its callers have had the time to fetch it."""
    ended = coalesce(BulkExport.finished_at, BulkExport.claimed_until, BulkExport.requested_at)
    purged = await session.execute(
        delete(BulkExport).where(
            BulkExport.status.in_([ExportStatus.DONE, ExportStatus.FAILED]), ended < now - RETENTION
        )
    )
    return int(purged.rowcount or 0)  # type: ignore[attr-defined]


_CLAIM = text(
    """
    UPDATE bulk_exports SET status = 'running', claim_token = :token, claimed_until = :until,
                            attempts = attempts + 1, started_at = coalesce(started_at, :now)
    WHERE id = (SELECT id FROM bulk_exports
                WHERE status IN ('queued', 'running') AND (claimed_until IS NULL OR claimed_until < :now)
                ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)
_HOLD = text("UPDATE bulk_exports SET claimed_until = :until WHERE id = :id AND claim_token = :token RETURNING id")
_DONE_TYPE = text(
    """
    UPDATE bulk_exports SET types_done = array_append(types_done, CAST(:kind AS varchar)),
                            counts = counts || jsonb_build_object(CAST(:kind AS text), CAST(:n AS int))
    WHERE id = :id
    """
)


async def run_exports(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> int:
    """Write every waiting export (the scheduler's job, in the system scope): the number written."""
    written = 0
    while (claimed := await _claim(sessions, clock.now())) is not None:
        export_id, token = claimed
        if await write_export(sessions, export_id, token, clock):
            written += 1
    return written


async def _claim(sessions: async_sessionmaker[AsyncSession], now: datetime) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The next job waiting or left by a worker whose lease ran out, held for `LEASE`; one that has
    failed `MAX_ATTEMPTS` times is marked failed instead."""
    while True:
        token = uuid.uuid4()
        async with sessions.begin() as session:
            export_id = await session.scalar(_CLAIM, {"token": token, "until": now + LEASE, "now": now})
            if export_id is None:
                return None
            job = await session.get_one(BulkExport, export_id)
            if job.attempts <= MAX_ATTEMPTS:
                return export_id, token
            job.status, job.error, job.claim_token, job.claimed_until = ExportStatus.FAILED, "gave up", None, None
            log.error("export %s failed after %d attempts", export_id, MAX_ATTEMPTS)


async def write_export(
    sessions: async_sessionmaker[AsyncSession],
    export_id: uuid.UUID,
    token: uuid.UUID,
    clock: Clock,
    types: int | None = None,
) -> bool:
    """Write the claimed job's remaining files, one resource type per transaction (at most `types`
    of them: a test stops a worker half-way); True once the job is done. Stops when the lease is
    no longer this worker's."""
    async with sessions.begin() as session:
        job = await session.get_one(BulkExport, export_id)
        secret = await secret_of(session, job.municipality_id)
        chosen = await _chosen(session, job, secret)
        starts, ends = period(job.first_day, job.last_day)
        remaining = [kind for kind in national.RESOURCE_TYPES if kind not in job.types_done]
    years = range(chosen.earliest_referral.year, job.last_day.year + 2)  # a deadline may cross into the next
    params = {
        "export_id": export_id,
        "case_ids": chosen.case_ids,
        "episodes": chosen.episodes,
        "patients": chosen.patients,
        "starts": starts,
        "ends": ends,
        "holidays": sorted(day for year in years for day in public_holidays(year)),
    }
    for kind in remaining[:types]:
        async with sessions.begin() as session:
            held = {"id": export_id, "token": token, "until": clock.now() + LEASE}
            if await session.scalar(_HOLD, held) is None:
                return False  # taken over by another worker after the lease ran out
            written = await session.execute(text(national.STATEMENTS[kind]), params)
            count = int(written.rowcount or 0)  # type: ignore[attr-defined]
            await session.execute(_DONE_TYPE, {"id": export_id, "kind": kind, "n": count})
    if types is not None and types < len(remaining):
        return False
    async with sessions.begin() as session:
        job = await session.get_one(BulkExport, export_id, with_for_update=True)
        if job.claim_token != token:
            return False
        job.status, job.finished_at = ExportStatus.DONE, clock.now()
        job.claim_token, job.claimed_until = None, None
    return True


async def _chosen(session: AsyncSession, job: BulkExport, secret: bytes) -> national.Chosen:
    """The job's cases with their pseudonyms: chosen by the first worker and kept on the job."""
    if job.case_ids is None:
        starts, ends = period(job.first_day, job.last_day)
        found = await session.scalars(
            text(national.CHOSEN_CASES),
            {
                "municipality": job.municipality_id,
                "first_day": job.first_day,
                "last_day": job.last_day,
                "starts": starts,
                "ends": ends,
            },
        )
        job.case_ids = list(found)
    rows = (await session.execute(text(_PSEUDONYM_INPUT), {"ids": job.case_ids})).all()
    return national.Chosen(
        case_ids=[row.id for row in rows],
        episodes=[pseudonym(secret, "case", str(row.id)) for row in rows],
        patients=[pseudonym(secret, "citizen", row.cpr) for row in rows],
        earliest_referral=min((row.referral_received_on for row in rows), default=job.last_day),
    )


_PSEUDONYM_INPUT = """
SELECT c.id, ci.cpr, c.referral_received_on FROM cases c JOIN citizens ci ON ci.id = c.citizen_id
WHERE c.id = ANY(CAST(:ids AS uuid[])) ORDER BY c.id
"""
