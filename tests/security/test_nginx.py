"""The proxy as deployed: Debian's nginx with infra/nginx.conf in front of a real Lindra instance.

The configuration is adapted only where it names the machine: loopback ports for its listeners and
upstream, plain HTTP instead of TLS (no certificate here), its log and pid in the test's folder.
Requests go over a raw socket, so the path reaches nginx exactly as an attacker writes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.worker import free_port
from tests.serving import serving

INFRA = Path(__file__).parents[2] / "infra"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _adapted(conf: str, proxy_port: int, app_port: int, folder: Path) -> str:
    """infra/nginx.conf on loopback ports, without TLS, logging into `folder`."""
    conf = re.sub(r"server lindra-\d:8000[^;]*;", f"server 127.0.0.1:{app_port};", conf)
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    conf = conf.replace("listen 443 ssl;", f"listen 127.0.0.1:{proxy_port};")
    conf = re.sub(r"\n\s*(ssl_\w+|http2)\s[^;]*;", "", conf)
    conf = conf.replace("access_log /dev/stdout", f"access_log {folder / 'access.log'}")
    return conf.replace("worker_processes auto;", "worker_processes 1;")


@pytest.fixture
async def proxy(tmp_path: Path, settings: Settings, clock: Clock) -> AsyncIterator[tuple[int, int]]:
    """nginx in front of the app: (the proxy's port, the app's own port)."""
    app = create_app(dataclasses.replace(settings, housekeeping=False), clock)
    async with serving(app) as (_, app_port):
        proxy_port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(_adapted((INFRA / "nginx.conf").read_text(), proxy_port, app_port, tmp_path))
        globals_ = f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};"
        nginx = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", globals_, stderr=subprocess.PIPE
        )
        try:
            for _ in range(100):
                if await _status(proxy_port, "/health") == 200:
                    break
                assert nginx.returncode is None, (await nginx.communicate())[1].decode()
                await asyncio.sleep(0.05)
            yield proxy_port, app_port
        finally:
            nginx.send_signal(signal.SIGQUIT)
            await nginx.wait()


async def _status(port: int, raw_path: str) -> int:
    """The status of `GET raw_path`, sent byte for byte; 0 when nothing answers."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0
    try:
        writer.write(f"GET {raw_path} HTTP/1.1\r\nHost: lindra.example\r\nConnection: close\r\n\r\n".encode())
        status_line = await reader.readline()
    finally:
        writer.close()
    return int(status_line.split()[1]) if status_line else 0


VARIANTS = ["/metrics", "/metrics/", "/metrics%2F", "/metrics%2f", "/METRICS", "/Metrics/", "//metrics", "/%6detrics"]


async def test_metrics_behind_the_proxy_are_refused_with_any_suffix_or_spelling(
    proxy: tuple[int, int], tmp_path: Path
) -> None:
    proxy_port, app_port = proxy
    assert await _status(app_port, "/metrics/") == 200, "the instance itself serves its metrics (no token set)"
    assert await _status(proxy_port, "/health?token=secret-in-a-url") == 200, "the proxy passes other paths on"
    answers = {path: await _status(proxy_port, path) for path in [*VARIANTS, "/metrics?format=text"]}
    assert answers == dict.fromkeys(answers, 403)
    assert "secret-in-a-url" not in (tmp_path / "access.log").read_text(), "the proxy logs query strings"


def test_the_compose_file_refuses_to_start_without_a_metrics_token() -> None:
    services = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]
    tokens = {name: s["environment"]["LINDRA_METRICS_TOKEN"] for name, s in services.items() if "lindra" in name}
    assert len(tokens) == 2 and all(value.startswith("${LINDRA_METRICS_TOKEN:?") for value in tokens.values()), tokens
