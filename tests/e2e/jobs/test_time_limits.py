"""Time limits through the job API: a handler's and a command's per-attempt limit, and the job's wall clock
(on devhost's manual clock)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.jobs.support import FeaturesHost, echo, pid_sleeper, process_is_gone, read_pid, seconds_between

pytestmark = pytest.mark.e2e


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where a test's sleeping command writes its PID; the command is killed at teardown if it is still
    running (when the test failed because the host did not kill it)."""
    path = tmp_path / "command.pid"
    yield path
    pid = read_pid(path)
    if pid is not None and not process_is_gone(pid):
        os.kill(pid, signal.SIGKILL)


def test_an_attempt_over_its_time_limit_fails_quickly(features_host: FeaturesHost, pid_file: Path) -> None:
    job_id = features_host.unique_id("limits")
    spec = {
        "id": job_id,
        "tasks": [
            {"id": "handler", "handler": "test.sleep", "input": {"seconds": 5}, "timeoutSeconds": 0.5},
            pid_sleeper("command", pid_file, 600, timeoutSeconds=1),
        ],
    }
    view = features_host.run(spec, timeout=120)
    assert view["state"] == "failed", view
    assert view["taskCounts"]["failed"] == 2
    records = features_host.tasks_of(job_id)

    handler = records["handler"]
    assert handler["state"] == "failed" and handler["attempts"] == 1
    assert handler["error"].startswith(
        "TimeoutError: handler 'test.sleep' did not finish within its time limit of 0.5 s"
    ), handler["error"]
    # Durations as the server recorded them, bounded loosely: without the limits they would be at least 5 s
    # (the handler) and 600 s (the command), and a busy machine only adds to them.
    assert 0.5 <= seconds_between(handler["startedAt"], handler["endedAt"]) < 5

    command = records["command"]
    assert command["state"] == "failed" and command["attempts"] == 1
    assert command["error"] == "time limit of 1 s exceeded; the command was killed"
    assert 1 <= seconds_between(command["startedAt"], command["endedAt"]) < 60
    pid = read_pid(pid_file)
    assert pid is not None and process_is_gone(pid)


def test_the_job_fails_when_it_runs_past_its_wall_clock(features_host: FeaturesHost, pid_file: Path) -> None:
    job_id = features_host.unique_id("wallclock")
    spec = {
        "id": job_id,
        "maxWallClockSeconds": 600,
        "tasks": [pid_sleeper("slow", pid_file, 600), echo("after", dependsOn=["slow"])],
    }
    assert features_host.submit(spec).status_code == 202
    features_host.wait_until(lambda: read_pid(pid_file) is not None, what="the slow command to start")
    assert features_host.get(f"/jobs/{job_id}").json()["state"] == "running"

    features_host.process.advance_clock(601)
    view = features_host.wait_for_job(job_id, timeout=60)
    assert view["state"] == "failed", view
    assert "maxWallClockSeconds" in view["reason"], view["reason"]
    assert seconds_between(view["startedAt"], view["endedAt"]) >= 600
    assert view["taskCounts"] == {
        "total": 2,
        "pending": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 1,
        "skipped": 1,
        "cancelled": 0,
    }
    records = features_host.tasks_of(job_id)
    assert records["slow"]["state"] == "failed"
    assert records["slow"]["error"] == "abandoned: the job ran past maxWallClockSeconds"
    assert (records["after"]["state"], records["after"]["attempts"]) == ("skipped", 0)
    assert features_host.calls(job_id, "after") == 0
    # The command outlives its abandoned attempt only until its activity sees the job has ended (it would sleep
    # for 600 s).
    pid = read_pid(pid_file)
    assert pid is not None
    features_host.wait_until(lambda: process_is_gone(pid), timeout=60, what="the abandoned command to be killed")
