"""Azurite killed (SIGKILL) in the middle of a job and started again on the same data: Azurite in disk mode
saves every few seconds, so it loses writes it had acknowledged (task records, results blobs). Whatever it
lost, the job never says succeeded over a missing record or result: it succeeds with every task recorded and
every result in place, or it fails naming the tasks storage lost, and a re-run then runs them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite, start_azurite
from durable_batch.activities.audit import LOST_ERROR
from tests.e2e.jobs.support import FeaturesHost, start_features_host

pytestmark = pytest.mark.e2e

TASKS = 3000  # the body stays under the test host's 256 KiB limit


def restarted(azurite: Azurite) -> Azurite:
    """Azurite killed with SIGKILL (as `kill -9` does: it saves nothing more), down a few seconds, then started
    again on the same data and ports."""
    os.kill(azurite.pid, signal.SIGKILL)
    azurite.stop()  # reaps the process
    time.sleep(3)  # the outage: the host's storage calls fail, or wait in their retries, meanwhile
    return start_azurite(
        azurite.location, blob_port=azurite.blob_port, queue_port=azurite.queue_port, table_port=azurite.table_port
    )


def wait_for_end(host: FeaturesHost, job_id: str, timeout: float = 300) -> dict[str, Any]:
    """`wait_for_job`, over a storage just started again: a read it fails (a 5xx naming storage) is read again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = host.get(f"/jobs/{job_id}")
        if response.status_code >= 500 and "storage" in response.json()["error"]["message"]:
            time.sleep(0.5)
            continue
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        if view["state"] in ("succeeded", "failed", "cancelled"):
            return view
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")


def check_whole(host: FeaturesHost, job_id: str, counts: dict[str, int]) -> set[str]:
    """The records agree with the job's counts, none is open, and every succeeded task has its result row;
    returns the ids of the failed tasks."""
    records = host.tasks_of(job_id)
    assert len(records) == TASKS
    states = {state: sum(r["state"] == state for r in records.values()) for state in ("succeeded", "failed")}
    assert states["succeeded"] + states["failed"] == TASKS, {r["state"] for r in records.values()}
    assert (states["succeeded"], states["failed"]) == (counts["succeeded"], counts["failed"]), counts
    results = {row["id"] for row in host.results.iter_results(job_id)}
    succeeded = {task_id for task_id, r in records.items() if r["state"] == "succeeded"}
    assert succeeded <= results, f"{len(succeeded - results)} succeeded tasks have no result"
    return {task_id for task_id, r in records.items() if r["state"] == "failed"}


def test_a_job_never_says_succeeded_over_writes_storage_lost(tmp_path: Path) -> None:
    azurite = start_azurite(tmp_path / "azurite")
    host: FeaturesHost | None = None
    try:
        host = start_features_host(azurite, tmp_path / "host", {"BATCH_PARTITION_SIZE": "500"})
        job_id = host.unique_id("lost")
        tasks = [
            {"id": f"t{n:05d}", "handler": "test.sleep", "input": {"seconds": 0.13, "value": n}} for n in range(TASKS)
        ]
        submitted = time.monotonic()
        assert host.submit({"id": job_id, "maxParallelTasks": 16, "tasks": tasks}).status_code == 202
        # Azurite saves every 5 s: killed after 10 s, it has most likely saved the job's prepared records, and
        # loses what the last seconds wrote.
        host.wait_until(
            lambda: (
                host is not None
                and time.monotonic() - submitted > 10
                and host.get(f"/jobs/{job_id}").json()["taskCounts"]["succeeded"] >= 300
            ),
            timeout=120,
            what="the job to be well under way",
        )
        azurite = restarted(azurite)
        view = wait_for_end(host, job_id)
        assert view["state"] in ("succeeded", "failed"), view
        if view["state"] == "succeeded":
            assert not check_whole(host, job_id, view["taskCounts"]) and view["taskCounts"]["succeeded"] == TASKS
            return
        if not view["reason"].startswith("storage lost the records or results of"):
            # Storage lost more than the last writes (the job's prepared records, its tables even): the job
            # failed on its way, which is all that can be asked of it then.
            return
        counts = view["taskCounts"]
        assert (counts["total"], counts["pending"], counts["running"]) == (TASKS, 0, 0), view
        failed = check_whole(host, job_id, counts)
        lost = {task_id for task_id, task in host.tasks_of(job_id, "failed").items() if task["error"] == LOST_ERROR}
        assert lost == failed and f"of {len(lost)} task" in view["reason"], view
        assert set(view["failedTasks"]) <= lost and len(view["failedTasks"]) == min(100, len(lost)), view
        # A re-run runs what did not succeed (what storage lost among it): then every task has its result.
        assert host.post(f"/jobs/{job_id}/rerun").status_code == 202
        again = wait_for_end(host, job_id)
        assert again["state"] == "succeeded", again
        assert not check_whole(host, job_id, again["taskCounts"])
    finally:
        if host is not None:
            host.close()
        azurite.stop()
