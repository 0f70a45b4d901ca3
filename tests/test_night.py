"""The simulated night in its short form: a cluster, phones, boards and every fault, in about two minutes.

Runs `python -m bench.night` as a process of its own (it owns an embedded PostgreSQL it restarts) and
asserts the correctness checks from its figures; the latency and memory bars are the long form's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_night_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    figures = tmp_path / "night.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.night", "--minutes", "1.5", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert figures.exists(), report
    night = json.loads(figures.read_text())

    assert all(fault["end"] for fault in night["faults"]), report  # every fault was injected
    assert night["alerts"]["alerts"] >= 20 and night["operations"]["offline operations"] >= 10, report
    assert set(night["operations"]["batches"]) == {"once", "twice in a row", "twice at once"}, report
    assert night["alerts"]["lost"] == 0, report
    assert night["tiers"]["double"] == 0, report
    assert night["operations"]["duplicated or lost"] == 0, report
    assert night["listeners"]["board events missed"] == 0, report
    assert night["privacy"]["found"] == [], report
    assert run.returncode == 0, report
