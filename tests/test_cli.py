"""`lindra serve` on its embedded default: starts, migrates, loads the demo, serves, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from backend.worker import free_port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_starts_embedded_postgres_serves_and_stops_it(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
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
        workers = [c for c in psutil.Process(process.pid).children() if "worker" in c.cmdline()]
        assert len(workers) == 1, "the sweeps and pushes run in one background worker"
        # The instance's /metrics carries the worker's figures too: one scrape target per instance.
        deadline = time.monotonic() + 20  # the worker may still be starting
        while "lindra_worker_up 1.0" not in (metrics := _get(f"http://127.0.0.1:{port}/metrics")[1].decode()):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.3)
        assert "lindra_escalation_lateness_seconds_count" in metrics and "lindra_http_requests_total" in metrics
    finally:
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=30)
    assert not workers[0].is_running() or workers[0].status() == psutil.STATUS_ZOMBIE, "the worker was left running"
    assert "koordinator1@demo.lindra.dk" in output  # the demo logins are printed
    assert "Demo municipality loaded." in output
    assert not (data_dir / "pg" / "postmaster.pid").exists(), "PostgreSQL was left running"


def test_a_worker_without_a_database_url_says_what_it_needs() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "worker"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr
