"""Lindra watches itself: a killed worker and a silent SMS gateway show on the boards, /ready and
/metrics, and the coordinator on duty gets one SMS about each, sent by the web instance itself.

A real Lindra server without background work (as `lindra serve --no-worker`), a real `lindra
worker` process beside it, the FCM stub and Kannel with its fake network (see sms_night.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from tests.alerts.sms_night import COORDINATOR_MOBILE, SmsNight, sms_night, wait_for

WORKER_SILENT_AFTER = 3.0  # seconds without a sweep before the banner shows
WORKER_SMS = "Lindra: baggrundsarbejdet er gået i stå; alarmer eskalerer ikke. Se tavlen."
GATEWAY_SMS = "Lindra: SMS-gatewayen svarede ikke. Se tavlen."
PUSH_SMS = "Lindra: push til telefonerne fejler; alarmer når kun frem som SMS. Se tavlen."
WATCH = {
    "watch_every_seconds": 0.3,
    "watch_worker_seconds": WORKER_SILENT_AFTER,
    "watch_push_seconds": 1.5,
    "watch_sms_seconds": 1.0,
}


@pytest.fixture(scope="module")
async def night(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmsNight]:
    async with sms_night(server_url, tmp_path_factory.mktemp("watch"), housekeeping=False, **WATCH) as running:
        yield running


class Worker:
    """`lindra worker` for the night's database, as a deployment runs it beside `lindra serve --no-worker`."""

    def __init__(self, night: SmsNight) -> None:
        settings = night.settings
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "LINDRA_FCM_CREDENTIALS": settings.fcm_credentials,
            "LINDRA_FCM_URL": settings.fcm_url,
            **night.kannel.settings_env(settings.sms_callback_url, settings.sms_callback_secret),
            **{f"LINDRA_{name.upper()}": str(value) for name, value in WATCH.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "backend.cli", "worker"], env=self.env)

    async def start_and_wait(self, night: SmsNight) -> None:
        """Start, and return once it has swept (its first sweep, after its start-up, writes a heartbeat)."""
        started = await night.pg.fetchval("SELECT now()")
        self.start()

        async def swept() -> bool:
            return bool(await night.pg.fetchval("SELECT max(swept_at) > $1 FROM worker_heartbeats", started))

        assert await wait_for(swept, 30), "the worker never swept"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="module")
async def running_worker(night: SmsNight) -> AsyncIterator[Worker]:
    """One worker for the module, started once it has swept (a test that kills it starts it again)."""
    running = Worker(night)
    try:
        await running.start_and_wait(night)
        yield running
    finally:
        running.stop()


@pytest.fixture
async def worker(night: SmsNight, running_worker: Worker) -> Worker:
    """The module's worker, started again if a test before left it dead."""
    assert running_worker.process is not None
    if running_worker.process.poll() is not None:
        await running_worker.start_and_wait(night)
    return running_worker


async def _faults(night: SmsNight) -> list[str]:
    answer = await night.get(night.world.coordinator, "/board/faults")
    assert answer.status_code == 200, answer.text
    return [f["fault"] for f in answer.json()["faults"]]


async def _ready(night: SmsNight) -> dict[str, object]:
    return dict((await night.get(night.world.coordinator, "/ready")).json())


async def _metric(night: SmsNight, fault: str) -> str:
    text = (await night.get(night.world.coordinator, "/metrics")).text
    return next(line for line in text.splitlines() if line.startswith(f'lindra_fault{{fault="{fault}"}}'))


async def test_a_killed_worker_shows_a_red_banner_and_texts_the_coordinator_once(
    night: SmsNight, worker: Worker
) -> None:
    assert "worker_silent" not in await _faults(night)
    assert (await _ready(night))["status"] == "ready"

    async def texted() -> list[str]:
        return [t for t in night.texts_to(COORDINATOR_MOBILE) if t == WORKER_SMS]

    assert not await texted()

    worker.kill()

    async def banner() -> bool:
        return "worker_silent" in await _faults(night)

    assert await wait_for(banner, WORKER_SILENT_AFTER + 5)
    ready = await _ready(night)
    assert (ready["status"], ready["faults"]) == ("degraded", ["worker_silent"])
    assert (await _metric(night, "worker_silent")).endswith(" 1.0")

    # With the worker and its SMS sender dead, the web instance texts the coordinator on duty itself.
    assert await wait_for(texted, 10)
    await asyncio.sleep(2)  # several more looks of the watcher: none texts her again
    assert len(await texted()) == 1

    worker.start()

    async def cleared() -> bool:
        return "worker_silent" not in await _faults(night)

    assert await wait_for(cleared, 20)
    assert (await _ready(night))["status"] == "ready"
    assert (await _metric(night, "worker_silent")).endswith(" 0.0")


async def test_pushes_that_all_fail_show_on_the_board_until_one_goes_through(night: SmsNight, worker: Worker) -> None:
    night.stub.fail_for(6)  # FCM answers 503 to every push for six seconds
    alert_id = await night.raise_alert()

    async def banner() -> bool:
        return "push_failing" in await _faults(night)

    assert await wait_for(banner, 10)
    assert (await _metric(night, "push_failing")).endswith(" 1.0")

    async def texted() -> list[str]:
        return [t for t in night.texts_to(COORDINATOR_MOBILE) if t == PUSH_SMS]

    assert await wait_for(texted, 10)

    async def cleared() -> bool:  # a retry after FCM is back goes through
        return "push_failing" not in await _faults(night)

    assert await wait_for(cleared, 20)
    assert len(await texted()) == 1
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


async def test_a_silent_sms_gateway_shows_on_the_board_and_its_sms_goes_once_it_answers(
    night: SmsNight, worker: Worker
) -> None:
    night.kannel.disconnect_network()
    night.kannel.stop_boxes(signal.SIGKILL)

    async def banner() -> bool:
        return "sms_gateway_down" in await _faults(night)

    try:
        assert await wait_for(banner, 10)
        assert "sms_gateway_down" in (await _ready(night))["faults"]  # type: ignore[operator]
        assert (await _metric(night, "sms_gateway_down")).endswith(" 1.0")
    finally:
        night.kannel.start_boxes()
        night.kannel.connect_network()

    async def cleared() -> bool:
        return "sms_gateway_down" not in await _faults(night)

    assert await wait_for(cleared, 10)

    async def texted() -> list[str]:
        return [t for t in night.texts_to(COORDINATOR_MOBILE) if t == GATEWAY_SMS]

    # Queued while the gateway was down, retried until it answered: it arrives, once.
    assert await wait_for(texted, 40)
    await asyncio.sleep(2)
    assert len(await texted()) == 1
