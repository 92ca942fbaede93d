"""The README's main job, `scripts/run-example` (`python -m devtools.run_example`), run as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.jobs.support import child_processes, kill_leftovers, process_is_gone

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def test_the_main_job_runs_to_the_end_and_says_where_its_results_are() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.run_example", "--tasks", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "succeeded in" in out and '"succeeded": 200' in out, out
    assert "Revenue summary" in out and "Where the results are:" in out and '"container": "batch-results"' in out
    assert "phase=reducing" in done.stderr or "phase=finished" in done.stderr, done.stderr[-2000:]


def test_sigterm_stops_azurite_and_devhost_it_started() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_example", "--tasks", "20", "--keep-running"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started: set[int] = set()
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 300
        for line in process.stdout:
            if "keep running" in line or time.monotonic() > deadline:
                break
        started = child_processes(process.pid)
        assert len(started) >= 2, "Azurite and devhost should be running"  # node, and devhost's python
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) != 0
        deadline = time.monotonic() + 60
        while not all(process_is_gone(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(process_is_gone(pid) for pid in started), f"left running: {started}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        kill_leftovers(started)
