"""`lindra serve` on its embedded default: starts, migrates, loads the demo, serves, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_starts_embedded_postgres_serves_and_stops_it(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = _free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _get(f"http://127.0.0.1:{port}/ready")[0] != 200:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.3)
        status, body = _get(f"http://127.0.0.1:{port}/ready")
        assert status == 200, body
        assert (data_dir / "pg" / "postmaster.pid").exists()
    finally:
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=30)
    assert "koordinator1@demo.lindra.dk" in output  # the demo logins are printed
    assert "Demo municipality loaded." in output
    assert not (data_dir / "pg" / "postmaster.pid").exists(), "PostgreSQL was left running"
