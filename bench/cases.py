"""Benchmark: the audited case read and the filtered case list against two baselines, one run.

    python -m bench.cases [--cases 500] [--seconds 10] [--connections 32] [--repeat 3] [--workers 1]

Starts PostgreSQL (embedded, or DATABASE_URL's server), seeds a municipality, serves the app with
uvicorn on a loopback port, and drives it with wrk. Prints requests/s and p50/p99 for:
a bare Litestar endpoint, a raw asyncpg select-plus-audit-insert endpoint, the case page
(authenticated, scoped, audited) and the filtered case list. The bar: the case read reaches at
least a third of the raw endpoint's throughput, with p99 under 30 ms.

What row-level security costs, in the same run: a second server of the same application acts as
the URL's user (the embedded PostgreSQL's superuser, whom no policy binds), as Lindra did before
it; its case page and list are measured in the same interleaved rounds, and the ratios printed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

import asyncpg

from backend.people.tokens import AccessClaims, issue_access_token
from backend.row_scope import SYSTEM, startup_settings
from bench.harness import (
    RAW,
    SECRET,
    Served,
    Target,
    arguments,
    create_database,
    drop_database,
    measure,
    print_table,
    scratch,
    serving,
)
from bench.seed import DISTRICTS, MUNICIPALITY, seed

LUA_RANDOM_CASE = """
local ids = {%s}
request = function()
  return wrk.format("GET", "/cases/" .. ids[math.random(#ids)], {["Authorization"] = "Bearer %s"})
end
"""


async def _prepare(server_url: str, cases: int) -> tuple[str, uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    url = await create_database(server_url)
    user_id, device_id = await seed(url, cases)
    conn = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM cases WHERE municipality_id = $1", MUNICIPALITY)]
    await conn.execute("ANALYZE")
    await conn.close()
    return url, user_id, device_id, ids


PAGE = "case page (auth, scope, audit)"
LIST = "filtered case list, 50 a page"
UNBOUND = ", no row security"


def _list_url(server: Served) -> str:
    return f"{server.url}/cases?district_id={DISTRICTS[0]}&phase=terminal&limit=50"


def main() -> int:
    args = arguments(__doc__ or "").parse_args()
    tmp, server_url = scratch()
    url, user_id, device_id, case_ids = asyncio.run(_prepare(server_url, args.cases))
    token = issue_access_token(SECRET, AccessClaims(user_id, device_id, "coordinator"), datetime.now(UTC), 120)
    script = tmp / "random_case.lua"
    script.write_text(LUA_RANDOM_CASE % (", ".join(f'"{i}"' for i in case_ids), token))
    try:
        with serving(url, user_id, args.workers) as server, serving(url, user_id, args.workers, False) as unbound:
            c, auth = args.connections, {"Authorization": f"Bearer {token}"}
            targets = {
                "bare Litestar endpoint": Target(f"{server.url}/bench/bare", c, {}),
                RAW: Target(f"{server.url}/bench/raw/{case_ids[0]}", c, {}),
                PAGE: Target(server.url, c, {}, str(script)),
                LIST: Target(_list_url(server), c, auth),
                PAGE + UNBOUND: Target(unbound.url, c, {}, str(script), served=unbound),
                LIST + UNBOUND: Target(_list_url(unbound), c, auth, served=unbound),
            }
            results = measure(server, targets, args.seconds, args.repeat)
    finally:
        asyncio.run(drop_database(server_url, url))

    print_table(
        f"{args.cases} cases, wrk -t1 -c{args.connections} -d{args.seconds}s, {args.workers} uvicorn worker(s), "
        f"median of {args.repeat} interleaved rounds",
        results,
    )
    print("\nWhat row-level security costs (with it / without it, same run):\n")
    for name in (PAGE, LIST):
        bound, free = results[name], results[name + UNBOUND]
        print(
            f"- {name}: req/s {bound['rps'] / free['rps']:.3f}, p50 {bound['p50_ms'] / free['p50_ms']:.3f}, "
            f"p99 {bound['p99_ms'] / free['p99_ms']:.3f}, PG CPU {bound['pg_cpu_ms'] / free['pg_cpu_ms']:.3f}"
        )
    read = results[PAGE]
    ok = (
        read["rps"] >= results[RAW]["rps"] / 3
        and read["p99_ms"] < 30
        and all(r["errors"] == 0 for r in results.values())
    )
    print(f"\nBar (case read >= 1/3 of raw, p99 < 30 ms, no errors): {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cases": args.cases, "results": results, "bar_met": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
