"""A morning burst of hospital notifications: what Lindra's inbox costs against storing the bytes.

    python -m bench.messages [--notices 2000] [--known 0.05] [--concurrency 8]

Hospitals send a HospitalNotification for every CPR holder, so most of a morning's burst is about
people Lindra does not know (95 % here). One `lindra serve` (with its worker) receives the burst
from a broker posting `--concurrency` at a time; each message is stored before the answer,
processed in the worker (parsed, validated with fhir.resources and fhirpathpy, reconciled,
acknowledged) and, for a stranger, reduced to a count. The baseline, in the same run and on the
same PostgreSQL, is a raw INSERT of the same bytes from as many connections: what merely keeping
the messages costs. Figures: the whole burst per message (received to the last one processed)
against the raw insert's, as a ratio; the receipt's p50/p99 against the raw insert's; each
message's time from receipt to processed. Then, the burst over, a coordinator's board
(a WebSocket) is timed learning of single admissions, from the broker's POST to the board's
`case.hospital_admitted` frame, against the raw NOTIFY round trip (INSERT + pg_notify to a
LISTEN callback) of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import connect

from backend.cases.cpr import normalise
from backend.db import start_embedded
from backend.messages.clients import hash_secret, new_secret
from backend.people.tokens import AccessClaims, issue_access_token
from backend.row_scope import SYSTEM, startup_settings
from bench.alerts import round_trips
from bench.cluster import Cluster
from bench.harness import create_database, drop_database, percentile
from bench.seed import MUNICIPALITY, seed
from tests.messages.builder import notification

SECRET = "bench-secret-" + "x" * 40


def _stranger_cpr(rng: random.Random) -> str:
    """A CPR of valid form that no citizen in the benchmark has (the seed's serials stay below 4000)."""
    born = datetime(1930, 1, 1) + timedelta(days=rng.randrange(30_000))
    return normalise(born.strftime("%d%m%y") + str(rng.randrange(5000, 9999)))


def burst(known: list[str], notices: int, known_share: float, seed_value: int = 7) -> list[bytes]:
    """The morning's messages: admissions, `known_share` of them for citizens with a case."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    messages = []
    for _ in range(notices):
        cpr = rng.choice(known) if rng.random() < known_share else _stranger_cpr(rng)
        start = now - timedelta(minutes=rng.randrange(5, 600))
        message = notification(
            "STIN", cpr=cpr, episode=str(uuid.uuid4()), start=start, recorded=start, status="in-progress"
        )
        messages.append(json.dumps(message).encode())
    return messages


async def _raw_baseline(url: str, messages: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Insert each message's bytes into a table of their own: the whole time, and each insert's."""
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_raw_inbox (id bigserial PRIMARY KEY, body bytea NOT NULL)")
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    latencies: list[float] = []

    async def insert() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            await pool.execute("INSERT INTO bench_raw_inbox (body) VALUES ($1)", body)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(insert() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return elapsed, latencies


async def _lindra(base: str, secret: str, url: str, messages: list[bytes], concurrency: int) -> dict[str, object]:
    """Post the burst as the broker does and wait for the worker to process every message."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    receipts: list[float] = []
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def post() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                answer = await http.post("/messages/inbox", content=body, headers=headers)
                receipts.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 202:
                    raise RuntimeError(f"the inbox answered {answer.status_code}: {answer.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(concurrency)))
        posted = time.perf_counter() - started

    connection = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
    try:
        for _ in range(12_000):  # ten minutes at most
            if not await connection.fetchval("SELECT count(*) FROM inbox_messages WHERE processed_at IS NULL"):
                break
            await asyncio.sleep(0.05)
        rows = await connection.fetch("SELECT state, received_at, processed_at FROM inbox_messages")
    finally:
        await connection.close()
    first = min(row["received_at"] for row in rows)
    last = max(row["processed_at"] for row in rows)
    processing = [(row["processed_at"] - row["received_at"]).total_seconds() * 1000 for row in rows]
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {
        "posted_s": posted,
        "burst_s": (last - first).total_seconds(),
        "receipts": receipts,
        "processing": processing,
        "states": states,
    }


async def board_learns(
    instance_url: str, ws_url: str, token: str, secret: str, known: list[str], count: int
) -> list[float]:
    """Milliseconds from posting an admission of a known citizen to its event on a coordinator's board."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
    now = datetime.now(UTC).replace(microsecond=0)
    took: list[float] = []
    async with connect(ws_url) as board, httpx.AsyncClient(base_url=instance_url, timeout=30) as http:
        await board.send(json.dumps({"type": "auth", "token": token, "bundle": True}))
        while json.loads(await board.recv())["type"] != "ready":
            pass
        for n in range(count):
            episode = str(uuid.uuid4())
            body = notification(
                "STIN", cpr=known[n % len(known)], episode=episode, start=now, recorded=now, status="in-progress"
            )
            started = time.perf_counter()
            answer = await http.post("/messages/inbox", content=json.dumps(body).encode(), headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"the inbox answered {answer.status_code}")
            async with asyncio.timeout(30):
                while b"case.hospital_admitted" not in await board.recv(decode=False):
                    pass
            took.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.2)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--known", type=float, default=0.05, help="share of notices about citizens with a case")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--admissions", type=int, default=30, help="single admissions timed to the board")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lindra-bench-messages-"))
    server_url = os.environ.get("DATABASE_URL") or start_embedded(tmp)
    url = await create_database(server_url)
    try:
        user_id, device_id = await seed(url, 100)
        token = issue_access_token(
            SECRET, AccessClaims(user_id, device_id, "coordinator"), datetime.now(UTC), minutes=60
        )
        secret = new_secret()
        connection = await asyncpg.connect(url, server_settings=startup_settings(SYSTEM))
        try:
            known = [row["cpr"] for row in await connection.fetch("SELECT cpr FROM citizens")]
            await connection.execute(
                "INSERT INTO system_clients (id, name, municipality_id, role, secret_hash) "
                "VALUES ($1, 'Bench broker', $2, 'inbox', $3)",
                uuid.uuid4(),
                MUNICIPALITY,
                hash_secret(secret),
            )
        finally:
            await connection.close()
        messages = burst(known, args.notices, args.known)

        cluster = Cluster(url, SECRET, tmp / "cluster", count=1).start()
        try:
            instance = cluster.instances[0]
            lindra = await _lindra(instance.url, secret, url, messages, args.concurrency)
            learned = await board_learns(instance.url, instance.ws_url, token, secret, known, args.admissions)
            notify, lost = await round_trips(url, args.admissions, 5.0, asyncio.get_running_loop().time())
        finally:
            cluster.stop()
        raw_s, raw = await _raw_baseline(url, messages, args.concurrency)
    finally:
        await drop_database(server_url, url)

    n = len(messages)
    burst_s = float(lindra["burst_s"])  # type: ignore[arg-type]
    receipts: list[float] = lindra["receipts"]  # type: ignore[assignment]
    processing: list[float] = lindra["processing"]  # type: ignore[assignment]
    print(f"{n} notices, {args.known:.0%} about citizens with a case, {args.concurrency} at a time")
    print(f"states: {lindra['states']}")
    print(f"{'':34} {'per message ms':>15} {'p50 ms':>8} {'p99 ms':>8}")
    raw_p50, raw_p99 = percentile(raw, 50), percentile(raw, 99)
    print(f"{'raw INSERT of the same bytes':34} {raw_s / n * 1000:15.2f} {raw_p50:8.2f} {raw_p99:8.2f}")
    print(
        f"{'Lindra receipt (POST, stored)':34} {float(lindra['posted_s']) / n * 1000:15.2f}"  # type: ignore[arg-type]
        f" {percentile(receipts, 50):8.2f} {percentile(receipts, 99):8.2f}"
    )
    print(f"{'Lindra burst, received to processed':34} {burst_s / n * 1000:15.2f}")
    print(
        f"{'one message, received to processed':34} {'':15} {percentile(processing, 50):8.1f} "
        f"{percentile(processing, 99):8.1f}"
    )
    print(
        f"{'the board learns of an admission':34} {'':15} {percentile(learned, 50):8.1f} {percentile(learned, 99):8.1f}"
    )
    print(f"{'raw NOTIFY round trip':34} {'':15} {percentile(notify, 50):8.2f} {percentile(notify, 99):8.2f}")
    print(f"ratio, burst per message / raw insert per message: {burst_s / raw_s:.1f}")
    print(
        f"ratio, board learns / raw NOTIFY, p50: {percentile(learned, 50) / percentile(notify, 50):.0f}, "
        f"p99: {percentile(learned, 99) / percentile(notify, 99):.0f} ({lost} NOTIFY lost)"
    )
    print(f"ratio, receipt p50 / raw insert p50: {percentile(receipts, 50) / statistics.median(raw):.1f}")


if __name__ == "__main__":
    asyncio.run(main())
