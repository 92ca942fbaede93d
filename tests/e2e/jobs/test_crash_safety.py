"""A host killed (SIGKILL) in the middle of a job, and a new one on the same durable state and storage: the job
completes, and no finished task's result is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from tests.e2e.batch_host import BatchHost
from tests.e2e.jobs.support import (
    FeaturesHost,
    all_succeeded,
    child_processes,
    kill_leftovers,
    process_is_gone,
    start_features_host,
)

pytestmark = pytest.mark.e2e

TASKS = 600


def read_results(work: tuple[BatchHost, str, range]) -> dict[str, Any]:
    """Every listed task's result through `GET /api/jobs/{id}/tasks/{taskId}`, on a session of its own."""
    host, job_id, numbers = work
    found: dict[str, Any] = {}
    with requests.Session() as session:
        for n in numbers:
            response = session.get(host.url(f"/jobs/{job_id}/tasks/t{n:03d}"), timeout=60)
            assert response.status_code == 200, response.text
            task = response.json()
            assert task["state"] == "succeeded" and task["resultError"] is None, task
            found[task["id"]] = task["result"]
    return found


def test_a_job_survives_a_host_crash_without_losing_results(azurite: Azurite, tmp_path: Path) -> None:
    workers: set[int] = set()
    try:
        crash_and_resume(azurite, tmp_path, workers)
    finally:
        kill_leftovers(workers)  # only if the test failed because they outlived their host


def crash_and_resume(azurite: Azurite, tmp_path: Path, workers: set[int]) -> None:
    # devhost's default worker processes (at least two): a crash of the host must take its workers down with it.
    settings: dict[str, str] = {}
    first = start_features_host(azurite, tmp_path, settings)
    job_id = first.unique_id("crash")
    spec = {
        "id": job_id,
        "maxParallelTasks": 20,
        "tasks": [
            # 0.1 s each: with 20 running side by side the job takes seconds, so the kill lands in the middle.
            {"id": f"t{n:03d}", "handler": "test.sleep", "input": {"seconds": 0.1, "value": n}}
            for n in range(TASKS)
        ],
        "reduce": {"handler": "test.sum"},
    }
    try:
        assert first.submit(spec).status_code == 202
        first.wait_until(
            lambda: first.get(f"/jobs/{job_id}").json()["taskCounts"]["succeeded"] >= 100,
            what="a hundred tasks to succeed",
        )
        recorded = first.tasks_of(job_id, "succeeded")
        assert first.process.process is not None
        workers |= child_processes(first.process.process.pid)
    finally:
        first.process.kill()
        first.http.close()
    second: FeaturesHost | None = None
    try:
        assert len(recorded) < TASKS, "the job finished before the crash: the test proves nothing"
        assert len(workers) >= 2, workers
        first.wait_until(
            lambda: all(process_is_gone(pid) for pid in workers), timeout=60, what="the workers to end with their host"
        )
        second = start_features_host(azurite, tmp_path, settings)
        view = second.wait_for_job(job_id, timeout=60)
        assert view["state"] == "succeeded", (view, second.tasks_of(job_id, "failed"))
        assert view["taskCounts"] == all_succeeded(TASKS)
        # The reduce read every task's result from the results blobs: none missing, none twice.
        assert view["reduce"]["result"]["sum"] == sum(range(TASKS))
        assert view["reduce"]["result"]["count"] == TASKS
        records = second.tasks_of(job_id)
        assert len(records) == TASKS and {r["state"] for r in records.values()} == {"succeeded"}
        assert {r["attempts"] for r in records.values()} == {1}
        with ThreadPoolExecutor(max_workers=4) as pool:
            found = pool.map(read_results, [(second, job_id, range(k, TASKS, 4)) for k in range(4)])
        results = {task_id: result for part in found for task_id, result in part.items()}
        assert results == {f"t{n:03d}": {"seconds": 0.1, "value": n} for n in range(TASKS)}
        # What the first host had recorded as done stays done: it did not run again.
        for task_id, before in recorded.items():
            assert records[task_id]["startedAt"] == before["startedAt"], (before, records[task_id])
        calls = [second.calls(job_id, f"t{n:03d}") for n in range(TASKS)]
        assert min(calls) >= 1, "a task never ran"
        # At least once, and again only what had not been recorded at the kill: a batch in flight runs again
        # whole, a recorded one never.
        twice = {f"t{n:03d}" for n, count in enumerate(calls) if count > 1}
        assert not twice & set(recorded), sorted(twice & set(recorded))[:10]
    finally:
        if second is not None:
            second.close()


def test_a_job_of_100000_tasks_survives_a_host_crash_with_exact_counts(azurite: Azurite, tmp_path: Path) -> None:
    tasks = 100_000
    settings: dict[str, str] = {}  # devhost's defaults, and the default partitions of 2,000 tasks
    first = start_features_host(azurite, tmp_path, settings)
    job_id = first.unique_id("crash-100k")
    spec = {
        "id": job_id,
        "maxParallelTasks": 100,
        "taskFactory": {
            "type": "parametricSweep",
            "parameterSets": [{"start": 0, "end": tasks - 1}],
            "repeatTask": {"id": "t{0:6}", "handler": "test.value", "input": "{0}"},
        },
    }
    workers: set[int] = set()
    try:
        assert first.submit(spec).status_code == 202
        first.wait_until(
            lambda: first.get(f"/jobs/{job_id}").json()["taskCounts"]["succeeded"] >= 20_000,
            timeout=120,
            what="20,000 tasks to succeed",
        )
        page = first.get(f"/jobs/{job_id}/tasks?state=succeeded&top=1000").json()["value"]
        assert first.process.process is not None
        workers |= child_processes(first.process.process.pid)
    finally:
        first.process.kill()
        first.http.close()
    assert len(page) == 1000
    second = None
    try:
        second = start_features_host(azurite, tmp_path, settings)
        view = second.wait_for_job(job_id, timeout=240)
        assert view["state"] == "succeeded", view
        assert view["taskCounts"] == {
            "total": tasks,
            "pending": 0,
            "running": 0,
            "succeeded": tasks,
            "failed": 0,
            "skipped": 0,
            "cancelled": 0,
        }
        assert second.tasks.counts(job_id).succeeded == tasks
        # Every result once: a batch run again after the kill replaced its own blob, it added none.
        seen: dict[str, Any] = {}
        for row in second.results.iter_results(job_id):
            assert row["id"] not in seen, f"{row['id']} has two result rows"
            seen[row["id"]] = row["result"]
        assert len(seen) == tasks and seen["t099999"] == 99_999 and seen["t000000"] == 0
        # What was recorded before the kill is recorded the same after it.
        for before in page[:200]:
            after = second.task(job_id, before["id"])
            assert (after["state"], after["attempts"], after["startedAt"]) == (
                before["state"],
                before["attempts"],
                before["startedAt"],
            )
    finally:
        if second is not None:
            second.close()
        kill_leftovers(workers)  # only if the test failed because they outlived their host
