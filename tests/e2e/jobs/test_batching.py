"""Batched execution through the job API: many tasks per activity call with each task's own record and
attempts, and async handlers running side by side under the cap."""

from __future__ import annotations

import pytest

from durable_batch.batch import wire
from tests.e2e.jobs.support import FeaturesHost, flaky

pytestmark = pytest.mark.e2e


def history_events(host: FeaturesHost, instance_id: str) -> int:
    response = host.durable_status(f"{instance_id}?showHistory=true")
    assert response.status_code == 200, response.text
    return len(response.json()["historyEvents"])


def test_short_tasks_share_activity_calls_and_keep_their_own_records(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("batched")
    # Four partitions of this folder's 50 tasks; every seventh task fails once and is retried at once.
    tasks = [
        flaky(f"t{i:03d}", fails=1) if i % 7 == 0 else {"id": f"t{i:03d}", "handler": "test.value", "input": i}
        for i in range(200)
    ]
    view = features_host.run({"id": job_id, "maxTaskRetryCount": 1, "retryIntervalSeconds": 0, "tasks": tasks})
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 200, view
    records = features_host.tasks_of(job_id)
    assert len(records) == 200
    assert {task_id: r["attempts"] for task_id, r in records.items() if r["attempts"] != 1} == {
        f"t{i:03d}": 2 for i in range(0, 200, 7)
    }
    assert all(r["startedAt"] and r["endedAt"] and r["startedAt"] <= r["endedAt"] for r in records.values())
    events = sum(history_events(features_host, wire.partition_instance_id(job_id, p)) for p in range(4))
    # One activity per task would be at least two events per task (scheduled, completed) in the partitions.
    assert events < 200, f"{events} history events in the partitions for 200 tasks: tasks are not batched"


def test_async_handlers_run_side_by_side_and_never_above_the_cap(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("async")
    cap = 60
    tasks = [
        {"id": f"a{i:03d}", "handler": "test.async_concurrency", "input": {"key": job_id, "seconds": 0.3, "value": i}}
        for i in range(300)
    ]
    view = features_host.run({"id": job_id, "maxParallelTasks": cap, "tasks": tasks})
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 300, view
    observed = features_host.concurrency(job_id)
    assert observed["calls"] == 300 and observed["current"] == 0
    assert observed["max"] <= cap, observed
    # Far more than the partitions running at once (two, each a few batches): they waited together.
    assert observed["max"] > 20, observed
    records = features_host.tasks_of(job_id)
    assert {r["state"] for r in records.values()} == {"succeeded"} and len(records) == 300
    assert features_host.task(job_id, "a123")["result"] == {"value": 123}
