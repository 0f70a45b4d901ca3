"""Signing in with a municipality's provider, and what asking it at every refresh costs.

Lindra is served in this process (uvicorn on a loopback port), Node's oidc-provider beside it
(tests/oidc/provider, `npm ci -s --prefix tests/oidc/provider` first), over one PostgreSQL. Each
round runs, one after the other:
- a password login: the baseline of a sign-in;
- the phone's whole sign-in at the provider: start, the provider's login and consent pages, the
  code handed to Lindra (which swaps it at the provider, checks the ID token, maps the person and
  signs the device in);
- a plain refresh (of the password device): the baseline of a refresh;
- a refresh of the federated device: Lindra swaps her refresh token at the provider, checks the
  new ID token and reads her groups through the mapping again.
The rounds interleave the four, so drift on the shared machine touches each alike; medians are
compared as ratios to the baselines of the same run.

    python -m bench.federation [--rounds 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker
from backend.row_scope import SYSTEM
from backend.worker import free_port
from bench.harness import SECRET, create_database, drop_database, scratch, spread
from tests.factories import PASSWORD, build_world
from tests.oidc.idp import APP_REDIRECT_URI, NURSES, Browser, Phone, configure, running_provider
from tests.serving import serving


async def timed(call: Callable[[], Awaitable[httpx.Response]], into: list[float]) -> httpx.Response:
    started = time.perf_counter()
    answer = await call()
    into.append((time.perf_counter() - started) * 1000)
    assert answer.status_code == 200, answer.text
    return answer


async def run(rounds: int) -> dict[str, dict[str, float]]:
    tmp, server_url = scratch(wrk_needed=False)
    url = await create_database(server_url)
    engine = make_engine(url, pool_size=2)
    try:
        settings = Settings(database_url=url, secret_key=SECRET, housekeeping=False, db_pool_size=5)
        world = await build_world(make_sessionmaker(engine, SYSTEM), settings, Clock())
        port = free_port()
        lindra = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=url,
            secret_key=SECRET,
            housekeeping=False,
            db_pool_size=5,
            public_url=lindra,
            oidc_app_redirect_uri=APP_REDIRECT_URI,
        )
        async with (
            running_provider(lindra, str(world.municipality_id)) as provider,
            serving(create_app(settings, Clock()), port=port),
            httpx.AsyncClient(base_url=lindra, timeout=30) as api,
        ):
            await configure(lindra, world.admin.headers, provider, nurses_district=world.district_a)
            await provider.account("bench-nurse", groups=[NURSES])
            times: dict[str, list[float]] = {
                "password login": [],
                "sign-in at the provider": [],
                "plain refresh": [],
                "refresh checked at the provider": [],
            }
            login = {
                "email": world.coordinator.email,
                "password": PASSWORD,
                "device": {"platform": "web", "app_version": "bench"},
            }
            plain = (await api.post("/auth/login", json=login)).json()["refresh_token"]
            for _ in range(rounds):
                await timed(lambda: api.post("/auth/login", json=login), times["password login"])
                browser = Browser(provider)
                phone = Phone(api, world.municipality_id, browser)
                await timed(lambda: phone.sign_in("bench-nurse"), times["sign-in at the provider"])  # noqa: B023
                await browser.aclose()
                answer = await timed(
                    lambda: api.post("/auth/refresh", json={"refresh_token": plain}),  # noqa: B023
                    times["plain refresh"],
                )
                plain = answer.json()["refresh_token"]
                await timed(phone.refresh, times["refresh checked at the provider"])
        medians = {name: statistics.median(values) for name, values in times.items()}
        baseline = {
            "password login": "password login",
            "sign-in at the provider": "password login",
            "plain refresh": "plain refresh",
            "refresh checked at the provider": "plain refresh",
        }
        return {
            name: spread(values) | {"vs_baseline": round(medians[name] / medians[baseline[name]], 2)}
            for name, values in times.items()
        }
    finally:
        await engine.dispose()
        await drop_database(server_url, url)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    results = asyncio.run(run(arguments.rounds))
    print(f"\nSigning in with the municipality's provider ({arguments.rounds} rounds)\n")
    print(f"| {'what':32} | {'p50 ms':>7} | {'p99 ms':>7} | {'max ms':>7} | vs baseline |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 9}|{'-' * 9}|-------------|")
    for name, r in results.items():
        print(
            f"| {name:32} | {r['p50_ms']:7.1f} | {r['p99_ms']:7.1f} | {r['max_ms']:7.1f} | {r['vs_baseline']:11.2f} |"
        )
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
