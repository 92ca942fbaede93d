"""A job of plain handler tasks plans every partition at once: PREPARE_JOB gives the plan they share
(`wire.SharedPlan`), the groups hand it down with each partition's size, and no partition calls LOAD_PARTITION.
Any task that makes a partition's plan differ (a dependency, an `async def` handler, a retry count of its own)
keeps the plan loaded partition by partition."""

from __future__ import annotations

from typing import Any

import pytest

from durable_batch.activities.partitions import _plan_of_tasks, load_partition, shared_plan
from durable_batch.batch import wire
from tests.support.memory_batch import RecordingBatch, job, simulate

pytestmark = pytest.mark.unit


def tasks(count: int, **special: dict[str, Any]) -> list[dict[str, Any]]:
    """`count` t.ok tasks t000.., with `special` fields for some of them by id."""
    return [{"id": f"t{i:03d}", "handler": "t.ok", "input": i, **special.get(f"t{i:03d}", {})} for i in range(count)]


def run(app: RecordingBatch) -> dict[str, Any]:
    sim = simulate(app, batch=4)
    sim.run_with_time()
    output: dict[str, Any] = sim.instances["job-1"].output
    return output


def test_plain_tasks_run_without_a_partition_loading_its_plan() -> None:
    # 5 partitions of 10, the last one short.
    app = RecordingBatch(job(tasks(47), maxParallelTasks=6, maxTaskRetryCount=1), partition_size=10)
    output = run(app)
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 47
    assert set(app.attempts.values()) == {1} and len(app.attempts) == 47
    assert wire.LOAD_PARTITION not in app.requests
    batches = app.requests[wire.RUN_BATCH]
    assert {b["partition"] for b in batches} == set(range(5))
    # Each partition ran exactly its own positions: the sizes came down with the plan.
    ran = {(b["partition"], p) for b in batches for first, stop, _ in b["tasks"] for p in range(first, stop)}
    assert ran == {(p, i) for p in range(5) for i in range(10 if p < 4 else 7)}


@pytest.mark.parametrize(
    "special",
    [
        {"t005": {"dependsOn": ["t001"]}},
        {"t005": {"maxRetryCount": 3}},
        {"t005": {"handler": "t.async_ok"}},
    ],
    ids=["a dependency", "a retry count of its own", "an async handler"],
)
def test_one_task_that_differs_has_every_partition_load_its_plan(special: dict[str, dict[str, Any]]) -> None:
    app = RecordingBatch(job(tasks(30, **special), maxParallelTasks=6), partition_size=10)
    output = run(app)
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 30
    assert sorted(r["partition"] for r in app.requests[wire.LOAD_PARTITION]) == [0, 1, 2]


def test_the_shared_plan_is_the_plan_each_partition_would_load_from_its_tasks() -> None:
    body = job(tasks(25), maxTaskRetryCount=2, retryIntervalSeconds=7, taskBatchSize=3)
    app = RecordingBatch(body, partition_size=10)
    spec_hash = app.spec.canonical_hash()
    cached = app.specs.get("job-1", spec_hash)
    shared = shared_plan(app.services, cached)
    assert shared is not None
    for partition in range(3):
        positions = cached.positions(10, partition)
        request: wire.LoadPartitionInput = {
            "jobId": "job-1",
            "specHash": spec_hash,
            "partition": partition,
            "partitionSize": 10,
        }
        from_tasks = _plan_of_tasks(app.services, cached, positions)
        assert wire.sized_plan(shared, len(positions)) == from_tasks == load_partition(app.services, app.specs, request)
