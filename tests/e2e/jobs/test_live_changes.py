"""Live changes of running jobs through the job API on devhost and Azurite: a cap lowered mid-job, disable
with `wait` and with `requeue`, enable, and cancel of a disabled job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from durable_batch.batch import wire
from tests.e2e.jobs.support import FeaturesHost, echo, process_is_gone, python_command, read_pid

pytestmark = pytest.mark.e2e


def timed(task_id: str, seconds: float) -> dict[str, Any]:
    return {"id": task_id, "handler": "test.timed", "input": {"seconds": seconds}}


def view_of(host: FeaturesHost, job_id: str) -> dict[str, Any]:
    response = host.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(host: FeaturesHost, job_id: str) -> dict[str, int]:
    return dict(view_of(host, job_id)["taskCounts"])


def intervals(host: FeaturesHost, job_id: str) -> list[tuple[float, float]]:
    """When each task ran, as its result says (wall-clock seconds, measured in the handler)."""
    found = []
    for task_id in host.tasks_of(job_id):
        result = host.task(job_id, task_id)["result"]
        found.append((float(result["start"]), float(result["end"])))
    return found


def most_at_once(runs: list[tuple[float, float]], after: float) -> int:
    """The most tasks that ran at the same moment at or after `after`."""
    edges = sorted([(max(s, after), 1) for s, e in runs if e > after] + [(e, -1) for s, e in runs if e > after])
    peak = current = 0
    for _, step in edges:  # an end sorts before a start at the same moment
        current += step
        peak = max(peak, current)
    return peak


def partition_shares(host: FeaturesHost, job_id: str, partitions: int) -> dict[int, int]:
    """The share of the cap each running partition works under, from its status in the Durable HTTP API."""
    shares: dict[int, int] = {}
    for n in range(partitions):
        response = host.durable_status(wire.partition_instance_id(job_id, n))
        if response.status_code != 200:
            continue
        status = response.json()
        custom = status.get("customStatus")
        if status.get("runtimeStatus") == "Running" and isinstance(custom, dict) and "share" in custom:
            shares[n] = int(custom["share"])
    return shares


def test_a_lowered_cap_is_never_exceeded_once_it_has_taken_effect(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("patch")
    # Two partitions of 50, one at a time; each task is its own batch, so the cap is what bounds them.
    tasks = [timed(f"t{i:03d}", 0.25) for i in range(100)]
    spec = {"id": job_id, "maxParallelTasks": 8, "taskBatchSize": 1, "tasks": tasks}
    assert features_host.submit(spec).status_code == 202
    features_host.wait_until(lambda: counts(features_host, job_id)["succeeded"] >= 10, what="tasks to run")

    response = features_host.http.patch(features_host.url(f"/jobs/{job_id}"), json={"maxParallelTasks": 2})
    assert response.status_code == 200, response.text
    assert response.json()["maxParallelTasks"] == 2
    # In effect once the running partition works under its new share; tasks started before then may finish.
    features_host.wait_until(
        lambda: sum(partition_shares(features_host, job_id, 2).values()) <= 2, what="the new share to arrive"
    )
    applied = time.time()
    view = features_host.wait_for_job(job_id, timeout=180)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["succeeded"] == 100

    runs = intervals(features_host, job_id)
    before = [r for r in runs if r[0] < applied]
    assert most_at_once(runs, 0) > 2, "the first cap never bound: the test proves nothing"
    settled = max(end for _, end in before)
    assert most_at_once(runs, settled) <= 2
    assert len(runs) - len(before) > 10, "too few tasks ran under the new cap to observe it"


def test_disable_with_wait_lets_running_tasks_finish_and_starts_none_until_enabled(
    features_host: FeaturesHost,
) -> None:
    job_id = features_host.unique_id("wait")
    # One batch of 20 tasks of 0.3 s, run one after another: the batch itself must stop starting them.
    tasks = [timed(f"t{i:03d}", 0.3) for i in range(20)]
    spec = {"id": job_id, "maxParallelTasks": 1, "taskBatchSize": 20, "tasks": tasks}
    assert features_host.submit(spec).status_code == 202
    features_host.wait_until(
        lambda: sum(features_host.calls(job_id, t["id"]) for t in tasks) >= 2, what="the batch to start"
    )
    response = features_host.post(f"/jobs/{job_id}/disable")
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "disabled" and response.json()["disableTasks"] == "wait"
    # Quiet: the batch has returned, and the tasks it did not start are pending again.
    features_host.wait_until(
        lambda: (c := counts(features_host, job_id))["running"] == 0 and c["succeeded"] > 0,
        timeout=60,
        what="the running batch to end",
    )
    quiet = time.time()
    paused = view_of(features_host, job_id)
    assert paused["state"] == "disabled"
    ran = paused["taskCounts"]["succeeded"]
    assert 0 < ran < 20 and paused["taskCounts"]["pending"] == 20 - ran
    assert sum(features_host.calls(job_id, t["id"]) for t in tasks) == ran

    again = features_host.post(f"/jobs/{job_id}/disable")
    assert again.status_code == 409 and again.json()["error"]["code"] == "jobDisabled"
    enabling = time.time()  # tasks may start before the answer comes back
    response = features_host.post(f"/jobs/{job_id}/enable")
    assert response.status_code == 202, response.text
    view = features_host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 20, view
    # Every task ran once; none started while the job was disabled and quiet.
    assert all(features_host.calls(job_id, t["id"]) == 1 for t in tasks)
    assert not [r for r in intervals(features_host, job_id) if quiet <= r[0] < enabling]
    again = features_host.post(f"/jobs/{job_id}/enable")
    assert again.status_code == 409 and again.json()["error"]["code"] == "jobFinished"


def test_disable_with_requeue_stops_a_running_command_and_runs_it_again_on_enable(
    features_host: FeaturesHost, tmp_path: Path
) -> None:
    job_id = features_host.unique_id("requeue")
    pid_file, marker = tmp_path / "command.pid", tmp_path / "ran-once"
    # It sleeps for 600 s on its first run only: just a kill ends that run in time.
    code = (
        "import os, pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text('1')\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
    )
    spec = {"id": job_id, "maxParallelTasks": 1, "tasks": [python_command("slow", code), echo("next")]}
    assert features_host.submit(spec).status_code == 202
    features_host.wait_until(lambda: read_pid(pid_file) is not None, what="the command to start")
    pid = read_pid(pid_file)
    assert pid is not None
    try:
        response = features_host.post(f"/jobs/{job_id}/disable", json={"disableTasks": "requeue"})
        assert response.status_code == 202, response.text
        assert response.json()["disableTasks"] == "requeue"
        features_host.wait_until(lambda: process_is_gone(pid), timeout=60, what="the command to be stopped")
        features_host.wait_until(
            lambda: features_host.task(job_id, "slow")["state"] == "pending", timeout=60, what="the requeue"
        )
        slow = features_host.task(job_id, "slow")
        assert slow["attempts"] == 0, slow
        assert view_of(features_host, job_id)["state"] == "disabled"
        assert features_host.calls(job_id, "next") == 0

        assert features_host.post(f"/jobs/{job_id}/enable").status_code == 202
        view = features_host.wait_for_job(job_id, timeout=120)
        assert view["state"] == "succeeded", view
        slow = features_host.task(job_id, "slow")
        assert (slow["state"], slow["attempts"]) == ("succeeded", 1)
        assert features_host.calls(job_id, "next") == 1
    finally:
        if not process_is_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_disabled_job_can_be_cancelled(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("disabled-cancel")
    tasks = [timed(f"t{i:03d}", 0.2) for i in range(10)]
    spec = {"id": job_id, "maxParallelTasks": 1, "taskBatchSize": 1, "tasks": tasks}
    assert features_host.submit(spec).status_code == 202
    features_host.wait_until(lambda: counts(features_host, job_id)["succeeded"] >= 1, what="a task to run")
    assert features_host.post(f"/jobs/{job_id}/disable").status_code == 202
    features_host.wait_until(lambda: counts(features_host, job_id)["running"] == 0, timeout=60, what="quiet")
    assert features_host.post(f"/jobs/{job_id}/cancel").status_code == 202
    view = features_host.wait_for_job(job_id, timeout=60)
    assert view["state"] == "cancelled", view
    done = view["taskCounts"]
    assert done["succeeded"] >= 1 and done["skipped"] > 0 and done["failed"] == 0
    assert done["succeeded"] + done["skipped"] + done["cancelled"] == 10
