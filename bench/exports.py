"""Benchmark: the national data set for a municipality's year, against reading the same rows raw.

    python -m bench.exports [--cases 500] [--json bench/results/exports.json]

Seeds a municipality (`bench.visits_seed`: 500 cases, 96,000 visits, about 32,000 assessments)
and spreads its courses over the past year (each case's month of visits moved back by its own
offset), with deaths for a third of the cases, about 2,000 alerts with their tiers and a hospital
stay for every second case. Then, each in a process of its own (peak RSS is a high-water mark, so
every figure needs a fresh process), for the last quarter and for the whole year:

- the export as the service runs it: a job row, the worker writing every resource type
  (`backend.exports.bulk.run_exports`), then every file read back as the download endpoint
  streams it (`file_chunks`, bytes counted and dropped);
- the baseline: the raw asyncpg read of the same rows (cases, visits, assessments, alerts, stays
  of the period), fetched whole, as a report built in Python would start.

It prints seconds and peak RSS for each, and the ratios: the export's time to the baseline's, and
the year's peak RSS to the quarter's (flat means the file never sits in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from backend.board.indicators import period
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_pool, make_sessionmaker, start_embedded
from backend.exports import bulk
from backend.exports.models import BulkExport
from backend.people.actor import Actor
from backend.people.models import Role
from backend.row_scope import SYSTEM, startup_settings
from bench.harness import SECRET, create_database, drop_database
from bench.seed import MUNICIPALITY
from bench.visits_seed import seed_visits

YEAR_DAYS = 333  # the last case's month of visits starts this many days earlier than the first's

_SPREAD = """
WITH ranked AS (
    SELECT id, ((row_number() OVER (ORDER BY id) - 1) * $2 / count(*) OVER ())::int AS back
    FROM cases WHERE municipality_id = $1
),
moved AS (
    UPDATE visits v SET window_start = v.window_start - make_interval(days => r.back),
                        window_end = v.window_end - make_interval(days => r.back),
                        checked_in_at = v.checked_in_at - make_interval(days => r.back),
                        checked_out_at = v.checked_out_at - make_interval(days => r.back),
                        missed_at = v.missed_at - make_interval(days => r.back),
                        shift_date = v.shift_date - r.back
    FROM ranked r WHERE v.case_id = r.id
),
scored AS (
    UPDATE symptom_assessments s SET recorded_at = s.recorded_at - make_interval(days => r.back)
    FROM ranked r WHERE s.case_id = r.id
)
UPDATE cases c SET referral_received_on = c.referral_received_on - r.back - 30,
                   first_contact_due = c.first_contact_due - r.back - 30,
                   assessment_due = c.assessment_due - r.back - 30,
                   first_contact_on = c.first_contact_on - r.back - 30,
                   assessment_on = c.first_contact_on - r.back - 25
FROM ranked r WHERE c.id = r.id
"""

_DEATHS = """
UPDATE cases c
SET status = 'deceased', death_place = (ARRAY['home', 'hospital', 'hospice'])[1 + abs(hashtext(c.id::text)) % 3],
    died_at = least((SELECT max(v.window_end) FROM visits v WHERE v.case_id = c.id) + interval '1 hour',
                    now() - interval '1 day')
WHERE c.municipality_id = $1 AND abs(hashtext(c.id::text)) % 3 = 0
"""

_ALERTS = """
WITH raised AS (
    INSERT INTO alerts (id, municipality_id, district_id, case_id, reason, severity, source, raised_at, received_at,
                        status, tiers, tier, climb, joined_count, first_acknowledged_at, at_bedside_at, resolved_at,
                        outcome)
    SELECT gen_random_uuid(), $1, v.district_id, v.case_id, 'pain', 'critical', 'phone', v.window_start,
           v.window_start, 'resolved', '[]'::jsonb, 0, 0, 0, v.window_start + interval '2 minutes',
           v.window_start + interval '25 minutes', v.window_start + interval '1 hour',
           (ARRAY['managed_at_home', 'managed_at_home', 'admitted_to_hospital'])[1 + abs(hashtext(v.id::text)) % 3]
    FROM visits v JOIN cases c ON c.id = v.case_id
    WHERE c.municipality_id = $1 AND abs(hashtext(v.id::text || 'alert')) % 48 = 0
    RETURNING id, received_at
)
INSERT INTO alert_tiers (alert_id, climb, tier, due_at, fired_at, fired_by, rules, target_ids)
SELECT id, 0, 0, received_at, received_at, 'bench', '["on_call_nurses"]'::jsonb, '[]'::jsonb FROM raised
"""

_STAYS = """
INSERT INTO hospital_stays (id, municipality_id, citizen_id, case_id, episode_key, status, since, encounter_class,
                            admitted_at, discharged_at)
SELECT gen_random_uuid(), $1, c.citizen_id, c.id, 'bench-' || c.id, 'home', a, 'IMP', a, a + interval '3 days'
FROM cases c CROSS JOIN LATERAL (SELECT min(v.window_start) + interval '10 days' AS a FROM visits v
                                 WHERE v.case_id = c.id) AS first_visit
WHERE c.municipality_id = $1 AND abs(hashtext(c.id::text)) % 2 = 0
"""


async def seed_year(url: str, cases: int) -> tuple[uuid.UUID, dict[str, int]]:
    """The municipality's year; its coordinator's id and what it holds."""
    world = await seed_visits(url, cases)
    conn = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    try:
        async with conn.transaction():
            await conn.execute(_SPREAD, MUNICIPALITY, YEAR_DAYS)
            for statement in (_DEATHS, _ALERTS, _STAYS):
                await conn.execute(statement, MUNICIPALITY)
        counts = {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            for table in ("cases", "visits", "symptom_assessments", "alerts", "hospital_stays")
        }
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return world.coordinator_id, counts


_BASELINE = [
    "SELECT c.*, ci.* FROM cases c JOIN citizens ci ON ci.id = c.citizen_id WHERE c.municipality_id = $1",
    "SELECT v.* FROM visits v JOIN cases c ON c.id = v.case_id WHERE c.municipality_id = $1"
    " AND v.window_start >= $2 AND v.window_start < $3",
    "SELECT s.* FROM symptom_assessments s JOIN cases c ON c.id = s.case_id WHERE c.municipality_id = $1"
    " AND s.recorded_at >= $2 AND s.recorded_at < $3",
    "SELECT a.* FROM alerts a WHERE a.municipality_id = $1 AND a.received_at >= $2 AND a.received_at < $3",
    "SELECT h.* FROM hospital_stays h WHERE h.municipality_id = $1 AND h.admitted_at < $3"
    " AND coalesce(h.discharged_at, h.died_at, 'infinity') >= $2",
]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure_baseline(url: str, first: date, last: date) -> dict[str, Any]:
    """The raw read of the period's rows, fetched whole."""
    starts, ends = period(first, last)
    conn = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    try:
        before = psutil.Process().memory_info().rss / 2**20
        began = time.perf_counter()
        rows = [await conn.fetch(sql, MUNICIPALITY, *((starts, ends) if "$2" in sql else ())) for sql in _BASELINE]
        seconds = time.perf_counter() - began
    finally:
        await conn.close()
    return {"seconds": seconds, "rows": sum(len(r) for r in rows), "rss_before_mib": before, "peak_mib": _peak_mib()}


async def measure_export(url: str, coordinator: uuid.UUID, first: date, last: date) -> dict[str, Any]:
    """The export as the service runs it: the job written by the worker, every file streamed back."""
    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine, SYSTEM)
    pool = await make_pool(url, 2)
    settings = Settings(database_url=url, secret_key=SECRET)
    actor = Actor(coordinator, uuid.uuid4(), Role.COORDINATOR, MUNICIPALITY, MUNICIPALITY, (), (), "bench")
    try:
        async with sessions.begin() as session:
            job = BulkExport(municipality_id=MUNICIPALITY, requested_by=coordinator, first_day=first, last_day=last)
            session.add(job)
        before = psutil.Process().memory_info().rss / 2**20
        began = time.perf_counter()
        await bulk.run_exports(sessions, settings, Clock())
        written = time.perf_counter()
        sent = lines = 0
        async with sessions() as session:
            counts = (await session.get_one(BulkExport, job.id)).counts
        for kind in counts:
            async for chunk in bulk.file_chunks(pool, actor, job.id, kind):
                sent += len(chunk)
                lines += chunk.count(b"\n")
        done = time.perf_counter()
    finally:
        await pool.close()
        await engine.dispose()
    return {
        "seconds": done - began,
        "write_seconds": written - began,
        "download_seconds": done - written,
        "lines": lines,
        "counts": counts,
        "mib": sent / 2**20,
        "rss_before_mib": before,
        "peak_mib": _peak_mib(),
    }


def in_own_process(url: str, mode: str, coordinator: uuid.UUID, first: date, last: date) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.exports", "--measure", mode, url, str(coordinator), str(first), str(last)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{mode} failed:\n{result.stderr}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lindra-bench-exports-"))
    server_url = os.environ.get("DATABASE_URL") or start_embedded(tmp)
    url = await create_database(server_url)
    try:
        began = time.perf_counter()
        coordinator, held = await seed_year(url, args.cases)
        print(f"seeded in {time.perf_counter() - began:.0f} s: {held}")
        yesterday = Clock().today() - timedelta(days=1)
        periods = {"quarter": yesterday - timedelta(days=90), "year": yesterday - timedelta(days=364)}
        results: dict[str, dict[str, Any]] = {}
        for name, first in periods.items():
            for mode in ("baseline", "export"):
                results[f"{name} {mode}"] = in_own_process(url, mode, coordinator, first, yesterday)
        print(f"{'':16} {'seconds':>8} {'rows/lines':>11} {'MiB out':>8} {'RSS before':>11} {'peak RSS':>9}")
        for name, r in results.items():
            size = r.get("mib", 0.0)
            count = r.get("lines", r.get("rows"))
            print(
                f"{name:16} {r['seconds']:8.2f} {count:11d} {size:8.1f} {r['rss_before_mib']:9.0f} MiB"
                f" {r['peak_mib']:6.0f} MiB"
            )
        for name in periods:
            export, baseline = results[f"{name} export"], results[f"{name} baseline"]
            print(
                f"{name}: export/raw read time {export['seconds'] / baseline['seconds']:.1f}x "
                f"(write {export['write_seconds']:.2f} s, download {export['download_seconds']:.2f} s)"
            )
        for mode in ("export", "baseline"):
            year, quarter = results[f"year {mode}"], results[f"quarter {mode}"]
            growth = (year["peak_mib"] - year["rss_before_mib"]) / max(
                1.0, quarter["peak_mib"] - quarter["rss_before_mib"]
            )
            print(
                f"{mode}: peak RSS year/quarter {year['peak_mib'] / quarter['peak_mib']:.2f}, "
                f"growth over idle year/quarter {growth:.2f}"
            )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"held": held, "results": results}, indent=2, default=str))
    finally:
        await drop_database(server_url, url)


def cli() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        mode, url, coordinator, first, last = sys.argv[2:7]
        days = (date.fromisoformat(first), date.fromisoformat(last))
        if mode == "baseline":
            figures = asyncio.run(measure_baseline(url, *days))
        else:
            figures = asyncio.run(measure_export(url, uuid.UUID(coordinator), *days))
        print(json.dumps(figures, default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
