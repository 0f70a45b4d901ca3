"""The background work of an instance: the scheduled sweeps and jobs, and the push sender.

`lindra serve` runs it in a child process of its own (`lindra worker`), restarted if it dies, so
that a stall in firebase-admin or a sweep's burst of tiers never holds the event loop that answers
a nurse's raise or writes to the boards, and the two may run on different cores. Nothing passes
between them but the database (rows, and NOTIFY after commit), which is all either ever trusted.
A deployment may also run `lindra serve --no-worker` and `lindra worker` as separate services;
the test client runs the same work inside the app (`background_work`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts.check_push import CheckPushSender
from backend.alerts.engine import INSTANCE
from backend.alerts.push import make_gateway
from backend.alerts.push_sender import PushSender
from backend.alerts.sms.gateway import make_sms_gateway
from backend.alerts.sms.outbox import SmsSender
from backend.alerts.watch import Watcher
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker
from backend.messages.jobs import InboxWorker
from backend.metrics import WORKER_REGISTRY
from backend.row_scope import SYSTEM
from backend.scheduler import Scheduler, start_scheduler

log = logging.getLogger("lindra.worker")

# A worker that keeps dying is started again, but no more often than this.
RESTART_AFTER_SECONDS = 1.0
# How often an orphaned worker (its `lindra serve` killed) notices and stops.
PARENT_CHECK_SECONDS = 0.2
# The few connections the sweeps, the jobs and the push sender's claims and results need.
WORKER_POOL_SIZE = 5


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def background_work(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> AsyncIterator[Scheduler]:
    """The scheduler (yielded), the senders (pushes, phone checks, SMS) and the MedCom inbox, until the block ends.
    Their work spans municipalities: `sessions` act in the system row scope (`make_sessionmaker(engine, SYSTEM)`)."""
    scheduler = start_scheduler(sessions, settings, clock)
    push_gateway = make_gateway(settings)
    pushes = PushSender(settings.database_url, sessions, push_gateway, clock)
    pushes.start()
    checks = CheckPushSender(settings.database_url, sessions, push_gateway, clock)
    checks.start()
    texts = SmsSender(settings.database_url, sessions, make_sms_gateway(settings), clock)
    texts.start()
    inbox = InboxWorker(settings.database_url, sessions, clock, timedelta(seconds=settings.medcom_resend_seconds))
    inbox.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()
        await checks.stop()
        await pushes.stop()
        await texts.stop()
        await inbox.stop()


async def run_worker(settings: Settings, parent_pid: int | None = None) -> None:
    """Do the background work until SIGTERM or SIGINT, or until the process `parent_pid` is gone."""
    engine = make_engine(settings.database_url, WORKER_POOL_SIZE, settings.db_role or None)
    metrics = None
    if settings.worker_metrics_port:  # read by the instance's /metrics, never reached from outside
        metrics, _ = start_http_server(settings.worker_metrics_port, addr="127.0.0.1", registry=WORKER_REGISTRY)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sessions = make_sessionmaker(engine, SYSTEM)
    watcher = Watcher(sessions, settings, Clock())  # the web instances watch too: see backend/alerts/watch.py
    watcher.start()
    try:
        async with background_work(sessions, settings, Clock()):
            gc.collect()
            gc.freeze()  # as in the app: keep the collector from walking what lives as long as the process
            log.info("background worker running (sweeps, jobs, push sender)")
            while not stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.error("the instance that started this worker is gone; stopping")
                    break
                try:
                    await asyncio.wait_for(stop.wait(), PARENT_CHECK_SECONDS)
                except TimeoutError:
                    pass
    finally:
        await watcher.stop()
        if metrics is not None:
            metrics.shutdown()
        await engine.dispose()


def run(settings: Settings, parent_pid: int | None = None) -> None:
    """`run_worker` on uvloop when it is installed (as under uvicorn), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_worker(settings, parent_pid))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_worker(settings, parent_pid))


class WorkerProcess:
    """`lindra worker` as a child of `lindra serve`, started again whenever it exits until `stop`."""

    def __init__(self, database_url: str, metrics_port: int) -> None:
        self._command = [sys.executable, "-m", "backend.cli", "worker", "--parent", str(os.getpid())]
        self._env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LINDRA_INSTANCE": INSTANCE,  # the worker names the tiers it fires after this instance
            "LINDRA_WORKER_METRICS_PORT": str(metrics_port),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and `stop` never cross
        self._watch = threading.Thread(target=self._keep_running, name="worker-watch", daemon=True)

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, env=self._env)
        self._watch.start()

    def _keep_running(self) -> None:
        while True:
            assert self._process is not None
            started = time.monotonic()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.error("background worker exited with code %s; starting it again", code)
            self._stopping.wait(max(0.0, RESTART_AFTER_SECONDS - (time.monotonic() - started)))
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = subprocess.Popen(self._command, env=self._env)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if it has not stopped within `timeout`."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
