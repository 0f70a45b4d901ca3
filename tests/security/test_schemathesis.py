"""schemathesis against a real `lindra serve` process, with a valid login of each role: whatever it
generates from the OpenAPI document, no answer is a 5xx and none breaks the documented schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, migrate
from backend.row_scope import SYSTEM
from bench.cluster import Cluster
from tests.conftest import admin_exec, with_database
from tests.factories import World, build_world

SECRET = "schemathesis-secret-" + "z" * 40
# Enough examples per operation to reach every parameter's edge cases, few enough for CI.
MAX_EXAMPLES = "3"
# The coordinator may change the most: its run also walks every parameter's boundary values
# (the coverage phase, about a minute); the other roles get the random phase only.
PHASES = {"coordinator": "coverage,fuzzing"}


@pytest.fixture(scope="module")
async def target(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Cluster, World]]:
    name = f"lindra_st_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url, 2)
    world = await build_world(make_sessionmaker(engine, SYSTEM), Settings(database_url=url, secret_key=SECRET), Clock())
    await engine.dispose()
    cluster = Cluster(database_url=url, secret=SECRET, workdir=tmp_path_factory.mktemp("st"), count=1).start()
    try:
        yield cluster, world
    finally:
        cluster.stop()
        await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("role", ["nurse_a", "coordinator", "key_person", "unit", "admin"])
async def test_no_generated_request_gets_a_5xx_or_an_answer_outside_the_schema(
    target: tuple[Cluster, World], role: str
) -> None:
    cluster, world = target
    instance = cluster.instances[0]
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{instance.url}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {world.users[role].token}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        MAX_EXAMPLES,
        "--phases",
        PHASES.get(role, "fuzzing"),
        # Signing out or revoking devices would end the login the run goes on with.
        "--exclude-path-regex",
        "(logout|revoke)",
        "--seed",
        "20261122",
        "--no-color",
    ]
    run = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=600, cwd=cluster.workdir
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    assert "passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary
    assert "5xx" not in cluster.logs() and "unhandled" not in cluster.logs()
