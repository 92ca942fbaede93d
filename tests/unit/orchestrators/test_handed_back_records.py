"""Batches of one task hand their records back to the partition, which writes those of many batches at once
(`wire.PARTITION_VERSION`): the records, results and failure details are what batches writing their own would
leave, in far fewer storage round trips; a partition started at version 1 keeps the older path. (Command
tasks, which start processes, do the same: `tests/process/orchestrators/test_handed_back_commands.py`.)"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from durable_batch.activities.batches import hand_back
from durable_batch.batch import wire
from durable_batch.batch.partition_records import RECORD_AT
from durable_batch.batch.records import TaskUpdate
from durable_batch.batch.states import TaskState
from durable_batch.storage.rows import MemoryRows, Row
from durable_batch.storage.tasks import Failure
from tests.support.memory_batch import MemoryBatch, RecordingBatch, job, simulate

pytestmark = pytest.mark.unit


class CountingRows(MemoryRows):
    """Task rows in memory that count reads of one row (a batch's check of its chunk is one)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, partition: str, key: str) -> Row | None:
        self.reads += 1
        return super().get(partition, key)


def tasks_of_each_kind() -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = [{"id": f"ok{i:03d}", "handler": "t.ok", "input": i} for i in range(180)]
    tasks += [{"id": f"fail{i}", "handler": "t.fail", "input": i} for i in range(4)]
    tasks += [{"id": f"flaky{i}", "handler": "t.flaky", "input": {"failures": 1, "n": i}} for i in range(6)]
    return tasks


def run_job(**fields: Any) -> tuple[RecordingBatch, CountingRows]:
    rows = CountingRows()
    body = job(tasks_of_each_kind(), taskBatchSize=1, maxParallelTasks=8, maxTaskRetryCount=1, **fields)
    app = RecordingBatch(body, partition_size=100, task_rows=rows)
    simulate(app, batch=4).run_with_time()
    return app, rows


def assert_recorded_as_run(app: MemoryBatch) -> None:
    """Every task recorded as it ran, with its result or its failure's details."""
    records = app.records
    assert Counter(r["state"] for r in records.values()) == Counter({"succeeded": 186, "failed": 4})
    assert all(records[f"ok{i:03d}"]["attempts"] == 1 for i in range(180))
    assert all(records[f"flaky{i}"]["attempts"] == 2 for i in range(6))
    for i in range(4):
        assert records[f"fail{i}"]["attempts"] == 2
        failed = app.services.tasks.get_task("job-1", f"fail{i}")
        assert failed is not None and failed.error is not None
        assert failed.error.startswith(f"ValueError: fail{i} attempt 2")
    results = {row["id"]: row["result"] for row in app.services.results.iter_results("job-1")}
    expected: dict[str, Any] = {f"ok{i:03d}": i for i in range(180)}
    expected.update({f"flaky{i}": {"failures": 1, "n": i} for i in range(6)})
    assert results == expected
    output = app.sim.instances["job-1"].output
    assert output["taskCounts"]["succeeded"] == 186 and output["taskCounts"]["failed"] == 4


def test_one_task_batches_hand_their_records_to_the_partition_which_writes_many_at_once() -> None:
    app, rows = run_job(retryIntervalSeconds=0)
    assert_recorded_as_run(app)
    batches = app.requests[wire.RUN_BATCH]
    assert len(batches) == 190 and all(request.get("handBack") for request in batches)
    written = [request for request in app.requests[wire.SETTLE_TASKS] if request.get("handedBack")]
    # Each task handed back once (its retry ran in its own batch, the job's retry interval being 0)...
    assert sorted(task["position"] for request in written for task in request["handedBack"]) == sorted(
        task[0] for request in batches for task in request["tasks"]
    )
    # ... and written with many others, each write's results in a blob numbered apart from every batch's.
    assert len(written) <= 190 // 4
    assert max(len(request["handedBack"]) for request in written) <= RECORD_AT
    numbers = [(request["partition"], request["batch"]) for request in written]
    numbers += [(request["partition"], request["batch"]) for request in batches]
    assert len(set(numbers)) == len(numbers)
    # No batch read its chunk row: what reads there were are the writes' own and the job's start and end.
    assert rows.reads <= 2 * len(written) + 20, rows.reads


def test_retries_after_an_interval_are_handed_back_as_running_then_settled() -> None:
    app, _ = run_job(retryIntervalSeconds=30)
    assert_recorded_as_run(app)
    handed = [task for r in app.requests[wire.SETTLE_TASKS] for task in r.get("handedBack", ())]
    # A failed first attempt with a retry left goes back as running; the retries, due together, go out as one
    # batch of several tasks, which writes its records itself.
    assert Counter(task["state"] for task in handed) == Counter({"succeeded": 180, "running": 10})
    retries = [r for r in app.requests[wire.RUN_BATCH] if r["tasks"][0][2] == 2]
    assert sum(stop - first for r in retries for first, stop, _ in r["tasks"]) == 10
    assert not any(r.get("handBack") for r in retries if sum(stop - first for first, stop, _ in r["tasks"]) > 1)


def test_a_partition_started_before_version_2_writes_its_batches_records_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire, "PARTITION_VERSION", 1)
    app, rows = run_job()
    assert_recorded_as_run(app)
    assert not any(request.get("handBack") for request in app.requests[wire.RUN_BATCH])
    assert not any(request.get("handedBack") for request in app.requests[wire.SETTLE_TASKS])
    assert rows.reads >= 190  # each batch read its chunk row


def test_a_cancel_keeps_the_records_handed_back_before_it() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.slow" if i == 50 else "t.ok", "input": i} for i in range(100)]
    app = RecordingBatch(job(tasks, taskBatchSize=1, maxParallelTasks=4), partition_size=100)
    sim = simulate(app, batch=2, hold=app.holds("t050"))
    sim.run(until=lambda: sum(app.attempts.values()) >= 60)
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    ran = {task_id for task_id, count in app.attempts.items() if count and task_id != "t050"}
    handed = {f"t{task['position']:03d}" for r in app.requests[wire.SETTLE_TASKS] for task in r.get("handedBack", ())}
    records = app.records
    succeeded = {task_id for task_id, record in records.items() if record["state"] == "succeeded"}
    # What came back before the cancel is recorded with its result; a batch that returned after it was
    # abandoned, as a cancel abandons every handler batch in flight: its task is recorded cancelled.
    assert succeeded == handed and len(succeeded) >= 60 - 4
    assert {row["id"] for row in app.services.results.iter_results("job-1")} == succeeded
    assert all(records[task_id]["state"] == "cancelled" for task_id in ran - succeeded)
    assert records["t050"]["state"] == "cancelled"
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled" and output["taskCounts"]["succeeded"] == len(succeeded)
    assert app.states() == Counter({k: v for k, v in output["taskCounts"].items() if k != "total" and v})


def test_records_too_large_for_a_history_are_not_handed_back() -> None:
    # Errors (2,000 characters) and inline results (1 KiB) are capped before this: the bound is a guard.
    small = TaskUpdate(0, TaskState.FAILED, 2, 1, 2, error="ValueError: short")
    handed = hand_back(0, [small], {"t0": Failure("t0", "ValueError: short", '{"partial": 1}')}, {}, {0: "t0"})
    assert handed == [
        {
            "position": 0,
            "state": "failed",
            "attempts": 2,
            "startedMs": 1,
            "endedMs": 2,
            "error": "ValueError: short",
            "resultJson": '{"partial": 1}',
        }
    ]
    large = TaskUpdate(0, TaskState.FAILED, 1, error="x" * wire.HAND_BACK_MAX_BYTES)
    assert hand_back(0, [large], {}, {}, {0: "t0"}) is None


class FlakySettles(RecordingBatch):
    """SETTLE_TASKS fails its first `failures` calls, as with storage away."""

    def __init__(self, body: dict[str, Any], failures: int, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self.failures = failures

    def activities(self) -> dict[str, Any]:
        calls = super().activities()
        settle = calls[wire.SETTLE_TASKS]

        def flaky(request: Any) -> Any:
            if self.failures > 0:
                self.failures -= 1
                self.requests[wire.SETTLE_TASKS].append(request)
                raise ConnectionError("storage is away")
            return settle(request)

        return {**calls, wire.SETTLE_TASKS: flaky}


def test_a_settle_that_fails_through_its_retries_is_made_again_until_storage_answers() -> None:
    tasks = [{"id": f"t{i:02d}", "handler": "t.ok", "input": i} for i in range(20)]
    # Every call of the first settle fails: its six attempts, and the same call again after the pause, twice.
    app = FlakySettles(job(tasks, taskBatchSize=1, maxParallelTasks=4), 6 * 3, partition_size=100)
    simulate(app).run_with_time()
    output = app.sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 20
    assert app.states() == Counter({"succeeded": 20})
    assert {row["id"]: row["result"] for row in app.services.results.iter_results("job-1")} == {
        f"t{i:02d}": i for i in range(20)
    }
    first = app.requests[wire.SETTLE_TASKS][0]
    assert app.requests[wire.SETTLE_TASKS][: 6 * 3 + 1] == [first] * (6 * 3 + 1)  # the same call, sent again
