"""RUN_BATCH's delivery mark and isolated batches, in memory: a delivery after its predecessor's process died
does not run the batch again; an isolated batch fails only the task whose process died (its child processes
are stood in for here; tests/e2e/activities/test_isolated_batches.py runs real ones)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from durable_batch.activities.batches import run_batch
from durable_batch.activities.deliveries import Deliveries, this_delivery
from durable_batch.activities.handler_tasks import HandlerRun
from durable_batch.activities.isolation import Died, Isolation, Lane, Ran
from durable_batch.batch import wire
from durable_batch.batch.handlers import Handler, TaskContext
from tests.support.memory_batch import MemoryBatch, job
from tests.unit.activities.test_batch_gate import prepared

pytestmark = pytest.mark.unit


def batch_of(app: MemoryBatch, count: int, **extra: Any) -> wire.RunBatchInput:
    request: dict[str, Any] = {
        **prepared(app),
        "batch": 0,
        "tasks": [[0, count, 1]],
        "concurrency": 1,
        "markRunning": False,
        **extra,
    }
    return cast(wire.RunBatchInput, request)


def three_tasks(**fields: Any) -> MemoryBatch:
    return MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(3)], **fields))


def plant(app: MemoryBatch, host: str, process: str, count: int = 1) -> None:
    """The mark an earlier delivery of batch 0 left when its process ended before the batch returned."""
    path = Path(app.work) / "deliveries" / "job-1" / "p0-b0.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "process": process, "count": count}))


def test_a_delivery_marks_its_batch_while_it_runs_and_clears_the_mark_when_it_returns() -> None:
    seen: list[str | None] = []
    tasks = [{"id": f"t{i}", "handler": "t.hook", "input": i} for i in range(3)]
    app = MemoryBatch(job(tasks))
    app.hook = lambda value: seen.append(_mark_text(app)) if value == 1 else None
    outcome = run_batch(app.services, app.specs, batch_of(app, 3))
    assert "interrupted" not in outcome and sum(app.attempts.values()) == 3
    this = this_delivery()
    assert seen == [json.dumps({"host": this.host, "process": this.process, "count": 1})]
    assert _mark_text(app) is None


def _mark_text(app: MemoryBatch) -> str | None:
    path = Path(app.work) / "deliveries" / "job-1" / "p0-b0.json"
    return path.read_text() if path.exists() else None


def test_a_delivery_after_its_predecessors_process_died_under_this_host_does_not_run_the_batch() -> None:
    app = three_tasks()
    request = batch_of(app, 3)
    plant(app, this_delivery().host, "m:12345")
    outcome = run_batch(app.services, app.specs, request)
    assert outcome == {
        "retry": [],
        "failed": [],
        "other": [],
        "busyMs": 0,
        "ran": 0,
        "interrupted": (
            "its process died: delivery 2 of batch 0 found that an earlier one (process m:12345) had started it "
            "and never finished it"
        ),
    }
    assert sum(app.attempts.values()) == 0
    assert {r["state"] for r in app.records.values()} == {"pending"}


def test_a_delivery_after_its_host_ended_runs_the_batch_again() -> None:
    app = three_tasks()
    plant(app, "gone:1", "gone:2", count=2)
    outcome = run_batch(app.services, app.specs, batch_of(app, 3))
    assert "interrupted" not in outcome and sum(app.attempts.values()) == 3
    assert {r["state"] for r in app.records.values()} == {"succeeded"}
    assert _mark_text(app) is None


def test_a_recorded_batch_delivered_again_answers_from_its_record() -> None:
    app = three_tasks()
    request = batch_of(app, 3)
    first = run_batch(app.services, app.specs, request)
    plant(app, this_delivery().host, "m:12345")  # even a mark left by a death does not matter then
    second = run_batch(app.services, app.specs, request)
    assert second == {**first, "busyMs": 0, "ran": 0}
    assert sum(app.attempts.values()) == 3


class StandInLane(Lane):
    """Runs handlers here, except that the task `dies` "ends its process"."""

    def __init__(self, isolation: Isolation, dies: str, calls: list[str]) -> None:
        super().__init__(isolation)
        self.dies, self.calls = dies, calls

    def run(
        self, handler: Handler, value: Any, ctx: TaskContext, timeout_seconds: float, non_retryable: Collection[str]
    ) -> Ran | Died | None:
        self.calls.append(f"{ctx.task_id}#{ctx.attempt}")
        if ctx.task_id == self.dies:
            return Died("its process died (exit code 137)")
        return Ran(HandlerRun(True, json.dumps(handler(value, ctx))), f"printed by {ctx.task_id}\n", "")


class StandInIsolation(Isolation):
    def __init__(self, dies: str) -> None:
        super().__init__()
        self.dies = dies
        self.calls: list[str] = []

    @contextmanager
    def lane(self) -> Iterator[Lane]:
        yield StandInLane(self, self.dies, self.calls)


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (2, 3)])
def test_an_isolated_batch_fails_only_the_task_whose_process_died(retries: int, attempts: int) -> None:
    app = three_tasks(maxTaskRetryCount=retries, retryIntervalSeconds=0)
    isolation = StandInIsolation(dies="t1")
    outcome = run_batch(app.services, app.specs, batch_of(app, 3, isolate=True), isolation=isolation)
    assert isolation.calls == ["t0#1", *(f"t1#{n}" for n in range(1, attempts + 1)), "t2#1"]
    assert outcome["failed"] == [[1, attempts, "t1"]] and outcome["retry"] == [] and outcome["other"] == []
    records = app.records
    assert records["t1"] == {
        "state": "failed",
        "attempts": attempts,
        "error": "ProcessDied: its process died (exit code 137)",
    }
    assert {k: (r["state"], r["attempts"]) for k, r in records.items() if k != "t1"} == {
        "t0": ("succeeded", 1),
        "t2": ("succeeded", 1),
    }
    # What a task printed in its own process is its log, as in the activity's.
    assert app.services.results.read_blob("_jobs/job-1/tasks/t0/stdout.txt") == b"printed by t0\n"


def test_marks_made_and_removed_at_once_by_many_batches_never_fail_one(tmp_path: Path) -> None:
    # Each `end` removes the folders it leaves empty while other batches make them again for their marks:
    # a folder gone between "it exists" and the check of it must not fail a batch (it cost a relaunch pause).
    deliveries = Deliveries(tmp_path / "deliveries")
    errors: list[BaseException] = []
    verdicts: list[str | None] = []

    def batches(first: int) -> None:
        try:
            for batch in range(first, first + 400):
                verdicts.append(deliveries.begin("job-1", 0, batch))
                deliveries.end("job-1", 0, batch)
        except BaseException as exc:  # what a batch would have raised, reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=batches, args=(1000 * i,)) for i in range(8)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the folders come and go between calls
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    assert verdicts == [None] * 3200
    assert not (tmp_path / "deliveries").exists()
