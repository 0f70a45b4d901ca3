"""Benchmark: the nurse's "my shift" and a 50-operation offline sync, next to the raw asyncpg baseline.

    python -m bench.visits [--cases 500] [--seconds 10] [--connections 32] [--sync-connections 8]
                           [--repeat 3] [--workers 1] [--json bench/results/visits.json]

Starts PostgreSQL (embedded, or DATABASE_URL's server), seeds a municipality (500 active cases,
3,000 visits a day, 30 days of history: `bench.visits_seed`), serves the app with uvicorn on a
loopback port and drives it with wrk, in interleaved rounds whose medians are reported:

- the bare Litestar endpoint and the raw asyncpg select-plus-audit-insert (`bench.server`);
- GET /mobile/v1/my-shift, rotating over 40 nurses' tokens (each has about 9 visits this shift):
  every answer in full, as for a phone that has just started;
- the same polled as the app polls: 32 phones, each sending the ETag of its last answer
  (If-None-Match), so most answers are 304 until something the nurse is shown changes;
- POST /mobile/v1/sync with 50 `scores` operations on the nurse's visits of the shift, fresh
  client_op_ids every request. Each wrk thread is one phone (one nurse, one connection): a phone
  sends its batches one after another, so a nurse's batches never race each other for her visits.
  8 phones at once by default, not 32: a batch is hundreds of statements, and at 32 the figure
  measures the queue, not the batch (`--sync-connections 32` shows it);
- for the coordinator: the shift's board (GET /visits) and a random case's timeline.

The bars: my-shift p99 under 50 ms; the 50-operation sync p99 under 250 ms; no errors, and every
sync operation applied.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from backend.people.tokens import AccessClaims, issue_access_token
from backend.visits.bedside import ESAS_R_ITEMS
from bench.harness import (
    RAW,
    SECRET,
    Target,
    arguments,
    create_database,
    drop_database,
    measure,
    print_table,
    scratch,
    serving,
)
from bench.visits_seed import VisitWorld, seed_visits

LUA_MY_SHIFT = """
local tokens = {__TOKENS__}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/mobile/v1/my-shift", {["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]})
end
"""

# Scripts where each wrk thread is one phone with one connection, so a thread's answers come back
# in order: thread n is nurse n (`nurse`). done() reports per-thread counters summed by `total`.
LUA_PHONES = """
local tokens = {__TOKENS__}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function total(name)
  local sum = 0
  for _, thread in ipairs(threads) do sum = sum + thread:get(name) end
  return sum
end

function init(args)
  nurse = ((id - 1) % #tokens) + 1
  start_phone()
end
"""

# How the app polls: each phone sends the ETag of the last full answer it got, and gets 304 while
# nothing it would be shown has changed.
LUA_POLL = (
    LUA_PHONES
    + """
function start_phone()
  full = 0
  not_modified = 0
end

request = function()
  local headers = {["Authorization"] = "Bearer " .. tokens[nurse]}
  if etag then headers["If-None-Match"] = etag end
  return wrk.format("GET", "/mobile/v1/my-shift", headers)
end

response = function(status, headers, body)
  if status == 200 then
    full = full + 1
    etag = headers["etag"] or headers["ETag"]
  elseif status == 304 then
    not_modified = not_modified + 1
  end
end

function done(summary, latency, requests)
  io.write("COUNT full_answers " .. total("full") .. "\\n")
  io.write("COUNT not_modified " .. total("not_modified") .. "\\n")
end
"""
)

LUA_RANDOM_TIMELINE = """
local ids = {__IDS__}
request = function()
  return wrk.format("GET", "/cases/" .. ids[math.random(#ids)] .. "/timeline?limit=50",
                    {["Authorization"] = "Bearer __TOKEN__"})
end
"""

# A phone sending its batches one after another. Operation ids are fresh per request; the response
# callback counts operations that were not applied, reported by done().
LUA_SYNC = (
    LUA_PHONES
    + """
local visits = {__VISITS__}
local items = {__ITEMS__}
local prefix = "__PREFIX__"
local ops = __OPS__

function start_phone()
  run = prefix .. "-" .. os.time() .. "-" .. id  -- every wrk run sends new ids
  counter = 0
  not_applied = 0
  headers = {["Authorization"] = "Bearer " .. tokens[nurse], ["Content-Type"] = "application/json"}
end

request = function()
  counter = counter + 1
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local mine = visits[nurse]
  local parts = {}
  for j = 1, ops do
    local scores = {}
    for k, item in ipairs(items) do scores[k] = '"' .. item .. '":' .. math.random(0, 6) end
    parts[j] = '{"client_op_id":"' .. run .. '-' .. counter .. '-' .. j .. '","type":"scores",'
      .. '"device_time":"' .. now .. '","visit_id":"' .. mine[((j - 1) % #mine) + 1] .. '",'
      .. '"body":{"instrument":"ESAS-r","scores":{' .. table.concat(scores, ",") .. '},"recorded_at":"' .. now .. '"}}'
  end
  return wrk.format("POST", "/mobile/v1/sync", headers, '{"operations":[' .. table.concat(parts, ",") .. ']}')
end

response = function(status, headers, body)
  if status == 200 then
    local _, applied = string.gsub(body, '"outcome":"applied"', "")
    not_applied = not_applied + (ops - applied)
  end
end

function done(summary, latency, requests)
  io.write("COUNT not_applied " .. total("not_applied") .. "\\n")
end
"""
)


def lua_list(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _call(method: str, url: str, token: str, body: object | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def preflight(base: str, token: str, visit_id: uuid.UUID) -> str | None:
    """Whether the phone API answers as the benchmark expects; the reason when it does not."""
    status, body = _call("GET", f"{base}/mobile/v1/my-shift", token)
    if status != 200:
        return f"GET /mobile/v1/my-shift answered {status}: {str(body)[:300]}"
    if not body.get("visits"):
        return "GET /mobile/v1/my-shift answered no visits for a nurse with visits this shift"
    now = datetime.now(UTC).isoformat()
    operation = {
        "client_op_id": f"preflight-{uuid.uuid4().hex}",
        "type": "scores",
        "device_time": now,
        "visit_id": str(visit_id),
        "body": {"instrument": "ESAS-r", "scores": dict.fromkeys(ESAS_R_ITEMS, 2), "recorded_at": now},
    }
    status, body = _call("POST", f"{base}/mobile/v1/sync", token, {"operations": [operation]})
    if status != 200:
        return f"POST /mobile/v1/sync answered {status}: {str(body)[:300]}"
    if body["results"][0].get("outcome") != "applied":
        return f"POST /mobile/v1/sync did not apply a scores operation: {body['results'][0]}"
    return None


async def _deadlocks(url: str) -> int:
    """Deadlocks PostgreSQL detected (and broke by failing a transaction) in the benchmark's database."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
    finally:
        await conn.close()


async def _prepare(server_url: str, cases: int) -> tuple[str, VisitWorld, float]:
    url = await create_database(server_url)
    started = time.monotonic()
    world = await seed_visits(url, cases)
    return url, world, time.monotonic() - started


def main() -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--sync-connections", type=int, default=8, help="phones syncing at once (one nurse each)")
    parser.add_argument("--nurses", type=int, default=40, help="nurses whose tokens my-shift rotates over")
    parser.add_argument("--ops", type=int, default=50, help="operations per sync batch")
    args = parser.parse_args()
    tmp, server_url = scratch()
    url, world, seed_seconds = asyncio.run(_prepare(server_url, args.cases))
    print(
        f"seeded {args.cases} cases, {world.visits} visits, {world.assessments} symptom assessments "
        f"in {seed_seconds:.1f} s",
        flush=True,
    )
    issued = datetime.now(UTC)
    nurses = [n for n in world.nurses if n.visit_ids][: args.nurses]
    tokens = [issue_access_token(SECRET, AccessClaims(n.user_id, n.device_id, "nurse"), issued, 240) for n in nurses]
    coordinator = issue_access_token(
        SECRET, AccessClaims(world.coordinator_id, world.coordinator_device_id, "coordinator"), issued, 240
    )
    scripts = {
        "my_shift": LUA_MY_SHIFT.replace("__TOKENS__", lua_list(tokens)),
        "poll": LUA_POLL.replace("__TOKENS__", lua_list(tokens)),
        "sync": LUA_SYNC.replace("__TOKENS__", lua_list(tokens))
        .replace("__VISITS__", ", ".join("{" + lua_list([str(v) for v in n.visit_ids]) + "}" for n in nurses))
        .replace("__ITEMS__", lua_list(list(ESAS_R_ITEMS)))
        .replace("__PREFIX__", f"bench{uuid.uuid4().hex[:10]}")
        .replace("__OPS__", str(args.ops)),
        "timeline": LUA_RANDOM_TIMELINE.replace("__IDS__", lua_list([str(i) for i in world.case_ids])).replace(
            "__TOKEN__", coordinator
        ),
    }
    for name, text in scripts.items():
        (tmp / f"{name}.lua").write_text(text)
    c, sc = args.connections, args.sync_connections
    my_shift_name, sync_name = f"my shift ({len(tokens)} nurses)", f"sync, {args.ops} scores a batch"
    poll_name = f"my shift polled with ETag ({c} phones)"
    try:
        with serving(url, world.coordinator_id, args.workers) as server:
            base = server.url
            problem = preflight(base, tokens[0], nurses[0].visit_ids[0])
            if problem:
                print(f"\nThe phone API is not ready for this benchmark: {problem}", file=sys.stderr)
                return 3
            targets = {
                "bare Litestar endpoint": Target(f"{base}/bench/bare", c, {}),
                RAW: Target(f"{base}/bench/raw/{world.case_ids[0]}", c, {}),
                my_shift_name: Target(base, c, {}, str(tmp / "my_shift.lua")),
                poll_name: Target(base, c, {}, str(tmp / "poll.lua"), threads=c),
                sync_name: Target(base, sc, {}, str(tmp / "sync.lua"), threads=sc),
                "shift board (coordinator)": Target(f"{base}/visits", c, {"Authorization": f"Bearer {coordinator}"}),
                "case timeline, 50 entries": Target(base, c, {}, str(tmp / "timeline.lua")),
            }
            results = measure(server, targets, args.seconds, args.repeat)
            deadlocks = asyncio.run(_deadlocks(url))
    finally:
        asyncio.run(drop_database(server_url, url))

    print_table(
        f"{args.cases} cases, {world.visits} visits; wrk -c{c} (sync: -t{sc} -c{sc}, one phone per thread) "
        f"-d{args.seconds}s; {args.workers} uvicorn worker(s); {os.cpu_count()} CPUs shared with PostgreSQL "
        f"and wrk; median of {args.repeat} interleaved rounds",
        results,
    )
    my_shift, sync = results[my_shift_name], results[sync_name]
    poll = results[poll_name]
    print(
        f"\npolls answered 304 (the phone's copy current): {poll['not_modified']:.0f} of "
        f"{poll['not_modified'] + poll['full_answers']:.0f}; "
        f"sync operations not applied: {sync['not_applied']:.0f}; deadlocks in PostgreSQL: {deadlocks}"
    )
    ok = (
        my_shift["p99_ms"] < 50
        and sync["p99_ms"] < 250
        and sync["not_applied"] == 0
        and deadlocks == 0
        and all(r["errors"] == 0 for r in results.values())
    )
    print(f"Bar (my-shift p99 < 50 ms, {args.ops}-op sync p99 < 250 ms, no errors): {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "cases": args.cases,
            "visits": world.visits,
            "connections": c,
            "sync_connections": sc,
            "workers": args.workers,
            "results": results,
            "deadlocks": deadlocks,
            "bar_met": ok,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
