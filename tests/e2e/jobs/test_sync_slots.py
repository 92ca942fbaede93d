"""Sync handler tasks run side by side up to the job's maxParallelTasks and never above it, read from the tasks'
own start and end times; each keeping its time limit and the stop under terminateJob. Through the job API on
devhost and Azurite.

This module's host runs at most 4 activities at once (host.json's maxConcurrentActivityFunctions, set through
an app setting as the Functions host allows, over 2 worker processes): more tasks than that at once means that
batches ran their tasks side by side, not one after another."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.overlap import Overlap, overlap
from tests.e2e.jobs.support import FeaturesHost, features_host_fixture, seconds_between

pytestmark = pytest.mark.e2e

ACTIVITIES_AT_ONCE = 4

features_host = features_host_fixture(
    manual_clock=True,
    env={
        "BATCH_PARTITION_SIZE": "50",
        "FUNCTIONS_WORKER_PROCESS_COUNT": "2",
        "AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions": str(ACTIVITIES_AT_ONCE),
    },
)


def timed(task_id: str, seconds: float, handler: str = "test.timed", **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": handler, "input": {"seconds": seconds}, **extra}


def run_times(host: FeaturesHost, job_id: str) -> dict[str, tuple[float, float]]:
    """Each succeeded task's own (start, end), from the job's results."""
    return {row["id"]: (row["result"]["start"], row["result"]["end"]) for row in host.results.iter_results(job_id)}


def run_job(host: FeaturesHost, tasks: list[dict[str, Any]], cap: int) -> Overlap:
    """Run a job of timed tasks under `cap`; how they overlapped."""
    job_id = host.unique_id(f"slots{cap}")
    view = host.run({"id": job_id, "maxParallelTasks": cap, "tasks": tasks}, timeout=120)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["succeeded"] == len(tasks), view
    times = run_times(host, job_id)
    assert sorted(times) == sorted(t["id"] for t in tasks)
    return overlap(times.values())


@pytest.mark.parametrize(("cap", "count", "seconds"), [(1, 8, 0.1), (7, 70, 0.15), (40, 200, 0.15)])
def test_sync_tasks_run_side_by_side_up_to_the_cap(
    features_host: FeaturesHost, cap: int, count: int, seconds: float
) -> None:
    seen = run_job(features_host, [timed(f"t{i:03d}", seconds) for i in range(count)], cap)
    assert seen.most <= cap, seen
    if cap == 1:
        assert seen.most == 1, seen
    else:
        assert seen.most > ACTIVITIES_AT_ONCE, f"no batch ran its tasks side by side: {seen}"


def test_sync_and_async_tasks_of_one_job_share_the_cap(features_host: FeaturesHost) -> None:
    # Runs of 20 sync and 20 async tasks, in partitions of 50: batches of both kinds run at once.
    tasks = [timed(f"t{i:03d}", 0.15, "test.timed" if (i // 20) % 2 == 0 else "test.async_timed") for i in range(120)]
    seen = run_job(features_host, tasks, 7)
    assert 1 < seen.most <= 7, seen


def test_a_sync_task_over_its_time_limit_is_abandoned_while_the_others_run_on(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("limit")
    tasks = [
        {"id": "slow", "handler": "test.sleep", "input": {"seconds": 5}, "timeoutSeconds": 0.5},
        *(timed(f"t{i}", 0.2) for i in range(5)),
    ]
    # One batch of the six tasks, holding three slots.
    spec = {"id": job_id, "maxParallelTasks": 3, "taskBatchSize": 6, "maxTaskRetryCount": 0, "tasks": tasks}
    view = features_host.run(spec)
    assert view["state"] == "failed" and view["taskCounts"]["succeeded"] == 5, view
    slow = features_host.task(job_id, "slow")
    assert (slow["state"], slow["attempts"]) == ("failed", 1)
    assert slow["error"].startswith(
        "TimeoutError: handler 'test.sleep' did not finish within its time limit of 0.5 s"
    ), slow["error"]
    # Abandoned at its limit, not waited for (the handler sleeps 5 s; a busy machine only adds to the 0.5 s).
    assert 0.5 <= seconds_between(slow["startedAt"], slow["endedAt"]) < 5
    assert sorted(run_times(features_host, job_id)) == [f"t{i}" for i in range(5)]


def test_under_terminate_job_no_task_starts_after_one_failed_for_good(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("terminate")
    tasks = [
        timed("long", 1.0),  # running beside the failure: it finishes and is recorded
        {"id": "fails", "handler": "test.fail"},
        *(timed(f"later{i}", 0.1) for i in range(6)),
    ]
    # One batch of the eight tasks, holding two slots: the failing task's lane is the only one free.
    spec = {
        "id": job_id,
        "maxParallelTasks": 2,
        "taskBatchSize": 8,
        "maxTaskRetryCount": 0,
        "onTaskFailure": "terminateJob",
        "tasks": tasks,
    }
    view = features_host.run(spec)
    assert view["state"] == "failed", view
    assert "onTaskFailure is terminateJob" in view["reason"], view["reason"]
    records = features_host.tasks_of(job_id)
    assert {task_id: r["state"] for task_id, r in records.items()} == {
        "long": "succeeded",
        "fails": "failed",
        **{f"later{i}": "skipped" for i in range(6)},
    }
    assert [features_host.calls(job_id, f"later{i}") for i in range(6)] == [0] * 6
