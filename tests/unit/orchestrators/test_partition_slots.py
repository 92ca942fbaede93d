"""The partition's batches of sync handler tasks: their sizes and task slots from the durations earlier
batches reported, within the partition's share, and `running` counting only what the slots let run. Task
durations are set, not slept: the partition decides only from the `busyMs` its batches report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch import wire
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit


class TimedBatch(MemoryBatch):
    """The real activities, with each attempt of RUN_BATCH reported as taking `task_ms`; the requests kept."""

    def __init__(self, body: dict[str, Any], *, task_ms: int, partition_size: int) -> None:
        super().__init__(body, partition_size=partition_size)
        self.task_ms = task_ms
        self.requests: list[dict[str, Any]] = []

    def activities(self) -> dict[str, Any]:
        activities = super().activities()
        run_batch = activities[wire.RUN_BATCH]

        def timed(request: dict[str, Any]) -> Any:
            self.requests.append(request)
            outcome = run_batch(request)
            outcome["busyMs"] = outcome["ran"] * self.task_ms
            return outcome

        activities[wire.RUN_BATCH] = timed
        return activities

    @property
    def batches(self) -> list[tuple[int, int]]:
        """(tasks, slots) of each RUN_BATCH call that ran, in order."""
        return sizes(self.requests)


def sizes(requests: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(sum(stop - first for first, stop, _ in r["tasks"]), r["concurrency"]) for r in requests]


def tasks(count: int) -> list[dict[str, Any]]:
    return [{"id": f"t{i:04d}", "handler": "t.ok", "input": i} for i in range(count)]


def test_tasks_that_wait_run_in_a_few_batches_holding_the_whole_share() -> None:
    # The benchmark's job: 2,000 tasks of 50 ms under a cap of 400, in one partition.
    app = TimedBatch(job(tasks(2000), maxParallelTasks=400), task_ms=50, partition_size=2000)
    sim = simulate(app)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 2000
    assert set(app.attempts.values()) == {1}
    # Two probes, then a chunk per batch with 5 tasks (250 ms) a slot: all four chunks at once, 400 slots.
    assert app.batches == [(1, 1), (1, 1), (498, 100), (500, 100), (500, 100), (500, 100)]
    assert sim.max_weight == 400


def test_trivial_tasks_run_a_chunk_one_after_another_on_one_slot() -> None:
    app = TimedBatch(job(tasks(2000), maxParallelTasks=200), task_ms=0, partition_size=2000)
    sim = simulate(app)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 2000
    assert app.batches == [(1, 1), (1, 1), (498, 1), (500, 1), (500, 1), (500, 1)]


def test_a_slot_gets_at_least_the_minimum_work_and_partitions_share_the_cap() -> None:
    # Partitions of 50 tasks of 200 ms under a cap of 7: a partition at a time, each with the whole cap.
    app = TimedBatch(job(tasks(200), maxParallelTasks=7), task_ms=200, partition_size=50)
    sim = simulate(app)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 200
    assert sim.max_weight == 7
    assert app.batches == [(1, 1), (1, 1), (48, 6), (50, 7), (50, 7), (50, 7)]


def test_running_counts_only_as_many_tasks_as_the_batches_hold_slots() -> None:
    app = TimedBatch(job(tasks(1000), maxParallelTasks=40), task_ms=50, partition_size=1000)
    held = True
    # The probes return; every later batch stays in flight until released.
    sim = simulate(app, hold=lambda name, request: held and name == wire.RUN_BATCH and request["batch"] >= 2)
    sim.run()
    assert app.batches == [(1, 1), (1, 1)]
    # 25 tasks (1.25 s) a slot: the two chunks' 998 tasks are handed to batches holding 20 slots each.
    in_flight = [json.loads(p.work.input_text or "null") for p in sim.pending if p.work.name == wire.RUN_BATCH]
    assert sizes(in_flight) == [(498, 20), (500, 20)]
    status = sim.instances[wire.partition_instance_id("job-1", 0)].custom_status
    assert status["taskCounts"] == {
        "total": 1000,
        "pending": 958,
        "running": 40,
        "succeeded": 2,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    held = False
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 1000


def test_retries_after_their_interval_run_side_by_side_too() -> None:
    flaky = [{"id": f"t{i:03d}", "handler": "t.flaky", "input": {"failures": 1}} for i in range(100)]
    body = job(flaky, maxParallelTasks=40, maxTaskRetryCount=1, retryIntervalSeconds=30)
    app = TimedBatch(body, task_ms=50, partition_size=100)
    sim = simulate(app)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 100
    # The retries come due together (their partition asks its pool for slots again once they do, having
    # given back what it held while they waited): one batch, side by side on the slots it got.
    assert app.batches == [(1, 1), (1, 1), (98, 25), (100, 25)]
    assert [{attempt for _, _, attempt in r["tasks"]} for r in app.requests] == [{1}] * 3 + [{2}]
