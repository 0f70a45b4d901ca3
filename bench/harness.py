"""What every benchmark needs: a scratch database, the loopback server, wrk, and the table of medians.

Figures on a shared 2-core machine drift from run to run, so each endpoint is measured in
several rounds interleaved with the others, and compared with baselines served by the same
process in the same run (`bench/server.py`). Each round also counts the CPU the application's
processes and PostgreSQL's spent per answer: a cost that stays put when the machine's stalls move
the slowest percent.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from backend.db import migrate, start_embedded
from backend.worker import free_port

SECRET = "bench-secret-" + "x" * 40
RAW = "raw asyncpg select + audit insert"


@dataclass(frozen=True)
class Target:
    url: str
    connections: int
    headers: dict[str, str]
    script: str | None = None
    threads: int = 1
    served: Served | None = None  # a second server of the run, if not `measure`'s own


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over all endpoints; medians are reported")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes serving every endpoint")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser


def database_url(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


async def create_database(server_url: str) -> str:
    """A fresh, migrated database on the server; returns its URL."""
    name = f"lindra_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url(server_url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = database_url(server_url, name)
    await asyncio.to_thread(migrate, url)
    return url


async def drop_database(server_url: str, url: str) -> None:
    admin = await asyncpg.connect(database_url(server_url, "postgres"))
    await admin.execute(f'DROP DATABASE "{url.partition("?")[0].rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def scratch(wrk_needed: bool = True) -> tuple[Path, str]:
    """A temporary folder, and the PostgreSQL to use: DATABASE_URL's server or an embedded one there."""
    if wrk_needed and shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="lindra-bench-"))
    return tmp, os.environ.get("DATABASE_URL") or start_embedded(tmp)


@dataclass(frozen=True)
class Served:
    url: str  # the base URL
    pid: int  # the server's process (with `--workers`, the parent of the workers)


@contextmanager
def serving(url: str, user_id: uuid.UUID, workers: int, row_security: bool = True) -> Iterator[Served]:
    """The application with its baselines on a loopback port, until the block ends. Without
    `row_security` it acts as the URL's user, as before row security (a superuser: not bound)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.server", url, SECRET, str(user_id), str(port), str(workers)],
        env=os.environ | {"BENCH_ROW_SECURITY": "1" if row_security else "0"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not become ready") from None
                time.sleep(0.2)
        yield Served(base, server.pid)
    finally:
        server.terminate()
        server.wait(10)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


_MEDIANS = ("rps", "p50_ms", "p99_ms", "app_cpu_ms", "pg_cpu_ms", "cpu_wait_pct", "steal_pct")


def wrk(target: Target, seconds: int) -> dict[str, float]:
    """Run wrk once: requests/s, p50 and p99 in ms, the answers (`requests`) and those of 400 or more
    (`errors`), and whatever its script counted and printed as `COUNT <name> <number>` lines in its
    done() callback."""
    cmd = ["wrk", f"-t{target.threads}", f"-c{target.connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    for key, value in target.headers.items():
        cmd += ["-H", f"{key}: {value}"]
    if target.script:
        cmd += ["-s", target.script]
    out = subprocess.run([*cmd, target.url], capture_output=True, text=True, check=True).stdout
    counts = {name: float(n) for name, n in re.findall(r"^COUNT (\w+) (\d+)$", out, re.M)}
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in latency:  # nothing answered within the run
        print(out, file=sys.stderr)
        return {"rps": 0.0, "p50_ms": float("inf"), "p99_ms": float("inf"), "requests": 0, "errors": -1} | counts
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "errors": int(errors.group(1)) if errors else 0,
    } | counts


def _cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds spent so far by the server's processes, and by this machine's PostgreSQL."""

    def spent(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return float(times.user + times.system)

    server = psutil.Process(server_pid)
    app = sum(spent(p) for p in [server, *server.children(recursive=True)])
    postgres = sum(spent(p) for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres")
    return app, postgres


def busy_seconds() -> float:
    """CPU seconds this machine's cores have run something: not idle, not waiting for the disk, not
    taken by the virtual machine's host (steal), guest time not counted twice."""
    times = psutil.cpu_times()
    left_out = ("idle", "iowait", "steal", "guest", "guest_nice")
    return float(sum(times) - sum(getattr(times, name, 0.0) for name in left_out))


def _stolen_seconds() -> float:
    """CPU seconds the virtual machine's host gave to others while this machine had work to run."""
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


class Pressure:
    """How much of a window some runnable task waited for a core, or some task for the disk (Linux's
    pressure stall information, in % of the wall time): the queue a tail latency stands in; and the
    share of the cores the virtual machine's host took away meanwhile (steal)."""

    KINDS = ("cpu", "io")

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.first = {kind: self._stalled_us(kind) for kind in self.KINDS}
        self.stolen = _stolen_seconds()

    @staticmethod
    def _stalled_us(kind: str) -> float:
        try:
            some = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
        except OSError:  # no PSI on this kernel
            return math.nan
        return float(some.rsplit("total=", 1)[1])

    def percent(self) -> dict[str, float]:
        """`cpu` and `io`: % of the time some task waited; `steal`: % of the cores the host took."""
        wall = time.monotonic() - self.began
        waited = {kind: round((self._stalled_us(kind) - self.first[kind]) / wall / 1e4, 1) for kind in self.KINDS}
        cores = os.cpu_count() or 1
        return waited | {"steal": round((_stolen_seconds() - self.stolen) / (wall * cores) * 100, 1)}


def _costed(server: Served, target: Target, seconds: int) -> dict[str, float]:
    """One wrk run, with the application's and PostgreSQL's CPU per answer (ms) over it, how much
    of it some task waited for a core, and the share of the cores the host took."""
    app_before, pg_before = _cpu_seconds(server.pid)
    pressure = Pressure()
    result = wrk(target, seconds)
    stalled = pressure.percent()
    app_after, pg_after = _cpu_seconds(server.pid)
    answers = max(result["requests"], 1)
    return result | {
        "app_cpu_ms": (app_after - app_before) * 1000 / answers,
        "pg_cpu_ms": (pg_after - pg_before) * 1000 / answers,
        "cpu_wait_pct": stalled["cpu"],
        "steal_pct": stalled["steal"],
    }


def settle(base: str, timeout: float = 60) -> None:
    """Wait until the server has worked off what the last run left queued: the bare endpoint answers fast."""
    deadline, quick = time.monotonic() + timeout, 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        with urllib.request.urlopen(base + "/bench/bare", timeout=timeout) as response:
            response.read()
        quick = quick + 1 if time.monotonic() - started < 0.01 else 0
        time.sleep(0.05)


def measure(server: Served, targets: dict[str, Target], seconds: int, repeat: int) -> dict[str, dict[str, float]]:
    """Warm every target up, then `repeat` interleaved rounds (a noisy moment hits all alike); the
    medians of the timings and CPU costs, and the sums of the answers, errors and counts."""
    for target in targets.values():
        wrk(target, 2)
        settle((target.served or server).url)
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(repeat):
        for name, target in targets.items():
            rounds[name].append(_costed(target.served or server, target, seconds))
            settle((target.served or server).url)
    return {
        name: {key: statistics.median(r[key] for r in runs) for key in _MEDIANS}
        | {key: sum(r.get(key, 0) for r in runs) for key in {k for r in runs for k in r} - set(_MEDIANS)}
        for name, runs in rounds.items()
    }


def print_table(heading: str, results: dict[str, dict[str, float]]) -> None:
    """The figures as a Markdown table; `app`/`PG ms` is the CPU each spent per answer, `wait %` the
    share of the round in which some runnable task waited for a core, `steal %` the share of the
    cores the virtual machine's host took away."""
    raw = results[RAW]["rps"]
    print(f"\n{heading}\n")
    print(
        f"| {'endpoint':38} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs raw':>6} | "
        f"{'app ms':>6} | {'PG ms':>6} | {'wait %':>6} | {'steal %':>7} | non-2xx |"
    )
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 9}|---------|")
    for name, r in results.items():
        print(
            f"| {name:38} | {r['rps']:7.0f} | {r['p50_ms']:7.2f} | {r['p99_ms']:7.2f} | {r['rps'] / raw:6.2f} | "
            f"{r['app_cpu_ms']:6.2f} | {r['pg_cpu_ms']:6.2f} | {r['cpu_wait_pct']:6.1f} | {r['steal_pct']:7.1f} | "
            f"{r['errors']:7.0f} |"
        )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q % of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Count, median, 99th percentile and maximum of latencies in ms, as the benchmarks print them."""
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1) if values else math.nan,
    }
