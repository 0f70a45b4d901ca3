"""Benchmark: the audited case read and the filtered case list against two baselines, one run.

    python -m bench.cases [--cases 500] [--seconds 10] [--connections 32] [--repeat 3]

Starts PostgreSQL (embedded, or DATABASE_URL's server), seeds a municipality, serves the app with
uvicorn on a loopback port, and drives it with wrk. Prints requests/s and p50/p99 for:
a bare Litestar endpoint, a raw asyncpg select-plus-audit-insert endpoint, the case page
(authenticated, scoped, audited) and the filtered case list. The bar: the case read reaches at
least a third of the raw endpoint's throughput, with p99 under 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from backend.db import migrate, start_embedded
from backend.people.tokens import AccessClaims, issue_access_token
from bench.seed import DISTRICTS, MUNICIPALITY, seed

SECRET = "bench-secret-" + "x" * 40
LUA_RANDOM_CASE = """
local ids = {%s}
request = function()
  return wrk.format("GET", "/cases/" .. ids[math.random(#ids)], {["Authorization"] = "Bearer %s"})
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


async def _prepare(server_url: str, cases: int) -> tuple[str, uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    name = f"lindra_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_database(server_url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _database(server_url, name)
    await asyncio.to_thread(migrate, url)
    user_id, device_id = await seed(url, cases)
    conn = await asyncpg.connect(url)
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM cases WHERE municipality_id = $1", MUNICIPALITY)]
    await conn.execute("ANALYZE")
    await conn.close()
    return url, user_id, device_id, ids


async def _drop(server_url: str, url: str) -> None:
    admin = await asyncpg.connect(_database(server_url, "postgres"))
    await admin.execute(f'DROP DATABASE "{url.partition("?")[0].rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def _wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the benchmark server did not become ready")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str], script: str | None = None) -> dict:
    """Run wrk once; return requests/s, p50 and p99 in ms, and the count of non-2xx answers."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over all endpoints; medians are reported")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes serving every endpoint")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="lindra-bench-"))
    server_url = os.environ.get("DATABASE_URL") or start_embedded(tmp)
    url, user_id, device_id, case_ids = asyncio.run(_prepare(server_url, args.cases))
    token = issue_access_token(SECRET, AccessClaims(user_id, device_id, "coordinator"), datetime.now(UTC), 120)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.server", url, SECRET, str(user_id), str(port), str(args.workers)]
    )
    try:
        _wait_ready(base)
        auth = {"Authorization": f"Bearer {token}"}
        script = tmp / "random_case.lua"
        script.write_text(LUA_RANDOM_CASE % (", ".join(f'"{i}"' for i in case_ids), token))
        list_url = f"{base}/cases?district_id={DISTRICTS[0]}&phase=terminal&limit=50"
        targets = {
            "bare Litestar endpoint": (f"{base}/bench/bare", {}, None),
            "raw asyncpg select + audit insert": (f"{base}/bench/raw/{case_ids[0]}", {}, None),
            "case page (auth, scope, audit)": (base, {}, str(script)),
            "filtered case list, 50 a page": (list_url, auth, None),
        }
        for target, headers, lua in targets.values():  # warm up connections, caches and statement caches
            wrk(target, 2, args.connections, headers, lua)
        rounds: dict[str, list[dict]] = {name: [] for name in targets}
        for _ in range(args.repeat):  # interleaved, so a noisy moment hits every endpoint alike
            for name, (target, headers, lua) in targets.items():
                rounds[name].append(wrk(target, args.seconds, args.connections, headers, lua))
        results = {
            name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            | {"errors": sum(r["errors"] for r in runs)}
            for name, runs in rounds.items()
        }
    finally:
        server.terminate()
        server.wait(10)
        asyncio.run(_drop(server_url, url))

    raw = results["raw asyncpg select + audit insert"]["rps"]
    print(
        f"\n{args.cases} cases, wrk -t1 -c{args.connections} -d{args.seconds}s, {args.workers} uvicorn worker(s), "
        f"median of {args.repeat} interleaved rounds\n"
    )
    print(f"| {'endpoint':36} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs raw':>6} | non-2xx |")
    print(f"|{'-' * 38}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|---------|")
    for name, r in results.items():
        print(
            f"| {name:36} | {r['rps']:8.0f} | {r['p50_ms']:7.2f} | {r['p99_ms']:7.2f} | "
            f"{r['rps'] / raw:6.2f} | {r['errors']:7d} |"
        )
    read = results["case page (auth, scope, audit)"]
    ok = read["rps"] >= raw / 3 and read["p99_ms"] < 30 and all(r["errors"] == 0 for r in results.values())
    print(f"\nBar (case read >= 1/3 of raw, p99 < 30 ms, no errors): {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cases": args.cases, "results": results, "bar_met": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
