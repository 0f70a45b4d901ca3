"""Several real `lindra serve` processes on loopback over one PostgreSQL, with a local FCM stub.

The shape of a production night in miniature, for the multi-instance tests and the alert
benchmark: each instance is a separate process (so `kill -9` is a real crash), all of them
share the database, and every push goes through the real firebase-admin to the stub.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import psutil

from backend.alerts.fcm_stub import FcmStub, RecordedRequest, write_service_account
from backend.worker import free_port

PROJECT = "lindra-cluster"


class StubProcess:
    """The FCM stub in a process of its own (`python -m backend.alerts.fcm_stub`), read over HTTP.

    For the benchmark: a burst of pushes then costs the stub's own process, not the time of the
    process that raises and measures (the in-process stub's threads compete with it for the GIL).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Self:
        command = [sys.executable, "-m", "backend.alerts.fcm_stub", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.requests()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the FCM stub process did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def write_service_account(self, path: Path, project_id: str) -> Path:
        return write_service_account(path, f"{self.url}/token", project_id)

    def requests(self) -> list[RecordedRequest]:
        with urllib.request.urlopen(f"{self.url}/_stub/requests", timeout=30) as answer:
            return [RecordedRequest(**r) for r in json.loads(answer.read())]

    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.is_send]


@dataclass
class Instance:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class Cluster:
    """`count` instances over `database_url`; `start()` waits until every one answers /ready."""

    database_url: str
    secret: str
    workdir: Path
    count: int = 2
    stub: FcmStub | StubProcess = field(default_factory=FcmStub)
    instances: list[Instance] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Ports chosen beforehand for the first instances (for a gateway told where to call back).
    ports: list[int] = field(default_factory=list)
    # The first instance loads the demo municipality (`lindra serve` without --no-demo); it starts
    # alone, so that it migrates and loads before the others start.
    demo: bool = False

    def start(self) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stub.start()
        self.credentials = self.workdir / "service-account.json"
        self.stub.write_service_account(self.credentials, PROJECT)
        ports = [*self.ports, *(free_port() for _ in range(self.count - len(self.ports)))]
        self.instances = [Instance(ports[n], self.workdir / f"instance-{n}.log") for n in range(self.count)]
        if self.demo:
            self._spawn(self.instances[0], demo=True)
            self.wait_ready(self.instances[0], timeout=180)
        for instance in self.instances[1 if self.demo else 0 :]:
            self._spawn(instance)
        for instance in self.instances:
            self.wait_ready(instance)
        return self

    def _spawn(self, instance: Instance, demo: bool = False) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "LINDRA_SECRET_KEY": self.secret,
            "LINDRA_FCM_CREDENTIALS": str(self.credentials),
            "LINDRA_FCM_URL": self.stub.url,
            "LINDRA_DB_POOL_SIZE": "10",
            **self.extra_env,
        }
        lindra = Path(sys.executable).parent / "lindra"
        demo_flag = [] if demo else ["--no-demo"]
        command = [str(lindra), "serve", *demo_flag, "--host", "127.0.0.1", "--port", str(instance.port)]
        with instance.log.open("ab") as log:
            instance.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, instance: Instance, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert instance.process is not None
            if instance.process.poll() is not None:
                raise RuntimeError(f"instance on {instance.port} exited; see {instance.log}")
            try:
                with urllib.request.urlopen(instance.url + "/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"instance on {instance.port} not ready; see {instance.log}")

    def kill(self, instance: Instance) -> None:
        """A crash of the instance's host: SIGKILL to it and its background worker, no shutdown code runs."""
        assert instance.process is not None
        self._signal_all(instance, signal.SIGKILL)
        instance.process.wait(timeout=10)

    def pause(self, instance: Instance) -> None:
        """SIGSTOP: the instance and its worker are frozen (their event loops blocked) until `resume`."""
        self._signal_all(instance, signal.SIGSTOP)

    def resume(self, instance: Instance) -> None:
        self._signal_all(instance, signal.SIGCONT)

    def worker(self, instance: Instance) -> psutil.Process | None:
        """The background worker `lindra serve` started for the instance (None while it restarts)."""
        try:
            children = psutil.Process(instance.pid).children()
        except psutil.NoSuchProcess:
            return None
        return next((c for c in children if "worker" in c.cmdline()), None)

    def _signal_all(self, instance: Instance, signum: int) -> None:
        """The instance's process and its children (the worker `lindra serve` starts)."""
        try:
            children = psutil.Process(instance.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for process in [psutil.Process(instance.pid), *children]:
            try:
                process.send_signal(signum)
            except psutil.NoSuchProcess:
                pass

    def rss(self, instance: Instance) -> int:
        """The resident memory in bytes of the instance and its worker (0 once it has exited)."""
        try:
            serving = psutil.Process(instance.pid)
            return sum(int(p.memory_info().rss) for p in [serving, *serving.children()])
        except psutil.Error:
            return 0

    def restart(self, instance: Instance) -> None:
        self._spawn(instance)
        self.wait_ready(instance)

    def logs(self) -> str:
        return "\n".join(i.log.read_text(errors="replace") for i in self.instances if i.log.exists())

    def stop(self) -> None:
        for instance in self.instances:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            if instance.process is not None:
                try:
                    instance.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
        self.stub.stop()
