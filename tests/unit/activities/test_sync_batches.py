"""A batch of sync handler tasks runs them side by side, up to the slots it holds, each task keeping its own
attempts, record, log and the batch's stop under terminateJob; in memory, through RUN_BATCH itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from durable_batch.activities import telemetry
from durable_batch.activities.batches import run_batch
from durable_batch.batch import wire
from tests.support.memory_batch import MemoryBatch, job
from tests.unit.activities.test_batch_gate import prepared

pytestmark = pytest.mark.unit

STUCK = 30.0  # a wait that runs out means the batch did not run its tasks side by side


def batch_of(app: MemoryBatch, tasks: int, slots: int) -> wire.RunBatchInput:
    request = prepared(app)
    return {**request, "batch": 0, "tasks": [[0, tasks, 1]], "concurrency": slots, "markRunning": False}  # type: ignore[typeddict-item]


class AtOnce:
    """Counts the hook's calls running at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


def test_a_batch_runs_as_many_sync_tasks_at_once_as_it_holds_slots() -> None:
    app = MemoryBatch(job([{"id": f"t{i:02d}", "handler": "t.hook", "input": i} for i in range(12)]))
    at_once = AtOnce()
    # Each task waits at a barrier of four: it opens only when four tasks run at the same time.
    barrier = threading.Barrier(4, timeout=STUCK)

    def hook(value: Any) -> None:
        with at_once:
            barrier.wait()

    app.hook = hook
    outcome = run_batch(app.services, app.specs, batch_of(app, 12, 4))
    assert at_once.most == 4
    assert outcome["retry"] == outcome["failed"] == outcome["other"] == [] and outcome["ran"] == 12
    assert {task_id: (r["state"], r["attempts"]) for task_id, r in app.records.items()} == {
        f"t{i:02d}": ("succeeded", 1) for i in range(12)
    }
    assert sorted(row["result"] for row in app.services.results.iter_results("job-1")) == list(range(12))


def test_a_batch_of_one_slot_runs_its_sync_tasks_one_after_another() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(6)]))
    at_once = AtOnce()
    order: list[int] = []

    def hook(value: int) -> None:
        with at_once:
            order.append(value)

    app.hook = hook
    outcome = run_batch(app.services, app.specs, batch_of(app, 6, 1))
    assert at_once.most == 1 and order == list(range(6))
    assert outcome["ran"] == 6 and app.states()["succeeded"] == 6


def test_retries_in_the_batch_stay_with_their_task_beside_the_others() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "f0", "handler": "t.flaky", "input": {"failures": 2}},
        {"id": "f1", "handler": "t.flaky", "input": {"failures": 5}},
        *({"id": f"ok{i}", "handler": "t.ok", "input": i} for i in range(6)),
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=0))
    outcome = run_batch(app.services, app.specs, batch_of(app, 8, 3))
    assert outcome["failed"] == [[1, 3, "f1"]] and outcome["retry"] == [] and outcome["ran"] == 3 + 3 + 6
    records = app.records
    assert (records["f0"]["state"], records["f0"]["attempts"]) == ("succeeded", 3)
    assert (records["f1"]["state"], records["f1"]["attempts"]) == ("failed", 3)
    assert records["f1"]["error"].startswith("ValueError: f1 attempt 3\n"), records["f1"]["error"]


@pytest.fixture
def final_failures() -> Iterator[dict[str, threading.Event]]:
    """An event per task id, set when the task's last attempt is logged as failed for good."""
    seen: dict[str, threading.Event] = {}

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "final", False) and getattr(record, "outcome", "") == "failed":
                seen.setdefault(record.taskId, threading.Event()).set()  # type: ignore[attr-defined]

    handler = Handler(logging.WARNING)
    telemetry.logger.addHandler(handler)
    try:
        yield seen
    finally:
        telemetry.logger.removeHandler(handler)


def test_under_terminate_job_no_task_starts_after_one_failed_for_good(
    final_failures: dict[str, threading.Event],
) -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "beside", "handler": "t.hook", "input": "beside"},
        {"id": "fails", "handler": "t.fail"},
        *({"id": f"later{i}", "handler": "t.hook", "input": i} for i in range(6)),
    ]
    app = MemoryBatch(job(tasks, onTaskFailure="terminateJob", maxTaskRetryCount=1, retryIntervalSeconds=0))
    failed = final_failures.setdefault("fails", threading.Event())

    def hook(value: Any) -> None:
        if value == "beside":
            # Still running when the other task fails for good (after its retry): it finishes, and is recorded.
            assert failed.wait(STUCK), "the failing task never ran beside this one"

    app.hook = hook
    outcome = run_batch(app.services, app.specs, batch_of(app, 8, 2))
    assert outcome["failed"] == [[1, 2, "fails"]]
    assert outcome["other"] == [[p, "pending"] for p in range(2, 8)]
    assert dict(app.attempts) == {"beside": 1, "fails": 2}
    assert {task_id: r["state"] for task_id, r in app.records.items()} == {
        "beside": "succeeded",
        "fails": "failed",
        **{f"later{i}": "pending" for i in range(6)},
    }


def test_tasks_running_side_by_side_keep_their_own_logs() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(4)]))
    barrier = threading.Barrier(4, timeout=STUCK)

    def hook(value: int) -> None:
        print(f"first line of t{value}")
        barrier.wait()  # every task has printed once before any prints again
        logging.getLogger("tests.sync_batches").warning("warning of t%d", value)
        print(f"second line of t{value}")

    app.hook = hook
    run_batch(app.services, app.specs, batch_of(app, 4, 4))
    for i in range(4):
        prefix = app.services.results.task_prefix("job-1", f"t{i}")
        stdout = app.services.results.read_blob(f"{prefix}stdout.txt").decode()
        stderr = app.services.results.read_blob(f"{prefix}stderr.txt").decode()
        assert stdout == f"first line of t{i}\nsecond line of t{i}\n"
        assert stderr.endswith(f"WARNING tests.sync_batches: warning of t{i}\n")
        assert stderr.count("\n") == 1


def test_an_async_batch_under_terminate_job_starts_no_task_after_one_failed_for_good() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "a0", "handler": "t.async_ok", "input": 0},
        {"id": "a1", "handler": "t.async_fail"},
        *({"id": f"a{i}", "handler": "t.async_ok", "input": i} for i in range(2, 6)),
    ]
    app = MemoryBatch(job(tasks, onTaskFailure="terminateJob"))
    outcome = run_batch(app.services, app.specs, batch_of(app, 6, 1))
    assert outcome["failed"] == [[1, 1, "a1"]]
    assert outcome["other"] == [[p, "pending"] for p in range(2, 6)]
    assert dict(app.attempts) == {"a0": 1, "a1": 1}


@pytest.mark.parametrize("slots", [1, 3])
def test_an_attempt_over_its_time_limit_is_abandoned_and_its_retry_runs_in_the_batch(slots: int) -> None:
    tasks = [
        {"id": "slow", "handler": "t.hook", "input": "slow", "timeoutSeconds": 0.05},
        *({"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(4)),
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=1, retryIntervalSeconds=0))
    release = threading.Event()
    calls: list[Any] = []

    def hook(value: Any) -> None:
        calls.append(value)
        if value == "slow" and calls.count("slow") == 1:
            print("before the limit")
            release.wait(STUCK)  # its first attempt runs on, abandoned, until the test ends

    app.hook = hook
    try:
        outcome = run_batch(app.services, app.specs, batch_of(app, 5, slots))
    finally:
        release.set()
    assert outcome["retry"] == outcome["failed"] == outcome["other"] == [] and outcome["ran"] == 6
    records = app.records
    assert (records["slow"]["state"], records["slow"]["attempts"]) == ("succeeded", 2)
    assert {task_id: r["attempts"] for task_id, r in records.items() if task_id != "slow"} == {
        f"t{i}": 1 for i in range(4)
    }
    assert sorted(map(str, calls)) == ["0", "1", "2", "3", "slow", "slow"]
    # The abandoned attempt's log was saved at its limit, and its retry's, quiet, replaced it: the logs a task
    # shows are its last attempt's.
    prefix = app.services.results.task_prefix("job-1", "slow")
    assert app.services.results.read_blob(f"{prefix}stdout.txt").decode() == ""


@pytest.mark.parametrize("slots", [1, 4])
def test_a_task_stuck_past_its_limit_in_a_batch_of_many_fails_alone(slots: int) -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.hook", "input": i} for i in range(100)]
    tasks[37] = {"id": "stuck", "handler": "t.hook", "input": "stuck", "timeoutSeconds": 0.05}
    app = MemoryBatch(job(tasks))
    release = threading.Event()

    def hook(value: Any) -> None:
        if value == "stuck":
            release.wait(STUCK)  # it runs on, abandoned, until the test ends

    app.hook = hook
    try:
        outcome = run_batch(app.services, app.specs, batch_of(app, 100, slots))
    finally:
        release.set()
    assert outcome["failed"] == [[37, 1, "stuck"]] and outcome["retry"] == outcome["other"] == []
    assert outcome["ran"] == 100
    records = app.records
    assert records.pop("stuck") == {
        "state": "failed",
        "attempts": 1,
        "error": "TimeoutError: handler 't.hook' did not finish within its time limit of 0.05 s; the attempt was "
        "abandoned (the handler may still be running in the background, and its result will be discarded)",
    }
    assert {r["state"] for r in records.values()} == {"succeeded"} and len(records) == 99
    results = {row["id"]: row["result"] for row in app.services.results.iter_results("job-1")}
    assert results == {task["id"]: task["input"] for task in tasks if task["id"] != "stuck"}
