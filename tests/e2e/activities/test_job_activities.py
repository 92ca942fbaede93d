"""A 250-task job through the activities as its orchestrators would call them, against a real Azurite."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from activities.errors import JobSpecMismatch, WrongTask
from activities.jobs import finish_job, prepare_job
from activities.partitions import load_partition, record_tasks
from activities.reduce import reduce_job
from activities.run_task import run_task
from activities.specs import SpecCache
from app.services import Services
from batch import wire
from batch.spec import JobSpec, ReduceSpec, TaskSpec
from storage.jobs import JobState
from storage.tasks import TaskState
from tests.e2e.activities.conftest import BIG, Submit, make_handlers

pytestmark = pytest.mark.e2e

TASKS = 250
BIG_TASK = 7
FAILING_TASK = 13


def job(job_id: str) -> JobSpec:
    tasks = []
    for i in range(TASKS):
        value: dict[str, Any] = {"n": i}
        if i == BIG_TASK:
            value["big"] = True
        if i == FAILING_TASK:
            value["fail"] = True
        tasks.append(
            TaskSpec(id=f"task-{i:04d}", handler="e2e.square", input=value, max_retry_count=3 if i == 0 else None)
        )
    return JobSpec(
        id=job_id,
        tasks=tuple(tasks),
        max_task_retry_count=1,
        retry_interval_seconds=2,
        reduce=ReduceSpec("e2e.total", {"k": 1}),
    )


def record_of(task: wire.PartitionTask, outcome: wire.TaskOutcome) -> wire.TaskRecord:
    """What the partition orchestrator records for a finished attempt."""
    state = TaskState.SUCCEEDED if outcome["ok"] else TaskState.FAILED
    record: wire.TaskRecord = {
        "id": task["id"],
        "index": task["index"],
        "state": state.value,
        "attempts": 1,
        "startedAt": outcome["startedAt"],
        "endedAt": outcome["endedAt"],
    }
    if outcome["ok"]:
        record["result"] = outcome.get("result")
        record["resultBlob"] = outcome.get("resultBlob")
    else:
        record["error"] = outcome.get("error")
    return record


def test_a_job_from_prepare_to_finish(services: Services, specs: SpecCache, job_id: str, submit: Submit) -> None:
    spec = job(job_id)
    spec_hash = submit(services, spec)
    started = datetime.now(UTC).isoformat()

    prepared = prepare_job(
        services, specs, {"jobId": job_id, "specHash": spec_hash, "partitionSize": 100, "startedAt": started}
    )
    assert prepared == {
        "totalTasks": TASKS,
        "partitionSizes": [100, 100, 50],
        "partitionSize": 100,
        "maxParallelTasks": 100,
        "maxWallClockSeconds": None,
        "onTaskFailure": "continue",
        "toleratedFailurePercentage": 0.0,
        "hasReduce": True,
    }
    record = services.jobs.get_job(job_id)
    assert record is not None and record.state == JobState.RUNNING
    assert record.task_counts.total == TASKS and record.task_counts.pending == TASKS
    assert record.start_time == datetime.fromisoformat(started)

    partitions = [
        load_partition(services, specs, {"jobId": job_id, "specHash": spec_hash, "partition": p, "partitionSize": 100})
        for p in range(3)
    ]
    assert [len(p) for p in partitions] == [100, 100, 50]
    assert [t["index"] for p in partitions for t in p] == list(range(TASKS))
    assert partitions[0][0] == {
        "index": 0,
        "id": "task-0000",
        "dependsOn": [],
        "maxRetryCount": 3,
        "retryIntervalSeconds": 2.0,
    }
    assert partitions[0][1]["maxRetryCount"] == 1
    # Loading a partition writes no records: a task gets its first one when it starts or is skipped.
    assert sum(services.tasks.count_by_state(job_id).values()) == 0

    outcomes: dict[str, wire.TaskOutcome] = {}
    with ThreadPoolExecutor(16) as pool:
        for p, tasks in enumerate(partitions):
            requests: list[wire.RunTaskInput] = [
                {"jobId": job_id, "specHash": spec_hash, "taskIndex": t["index"], "taskId": t["id"], "attempt": 1}
                for t in tasks
            ]
            for task, outcome in zip(tasks, pool.map(lambda r: run_task(services, specs, r), requests), strict=True):
                outcomes[task["id"]] = outcome
            # Records are flushed in completion order, not task order: reverse the second half.
            records = [record_of(t, outcomes[t["id"]]) for t in tasks]
            for batch, chunk in enumerate([records[:40], list(reversed(records[40:]))]):
                record_tasks(services, {"jobId": job_id, "partition": p, "batch": batch, "records": chunk})

    assert outcomes["task-0003"]["ok"] and outcomes["task-0003"]["result"] == {"n": 3, "square": 9}
    big = outcomes[f"task-{BIG_TASK:04d}"]
    assert big["ok"] and "result" not in big and big["resultBlob"] == f"{job_id}/tasks/task-{BIG_TASK:04d}/result.json"
    assert json.loads(services.results.read_blob(big["resultBlob"] or ""))["padding"] == BIG
    failed = outcomes[f"task-{FAILING_TASK:04d}"]
    assert not failed["ok"] and (failed["error"] or "").startswith(
        f"ValueError: task task-{FAILING_TASK:04d} refuses 13"
    )

    counts = services.tasks.count_by_state(job_id)
    assert counts[TaskState.SUCCEEDED] == TASKS - 1 and counts[TaskState.FAILED] == 1
    stored = services.tasks.get_task(job_id, "task-0003")
    assert stored is not None and stored.result == {"n": 3, "square": 9} and stored.partition == 0
    stored_big = services.tasks.get_task(job_id, f"task-{BIG_TASK:04d}")
    assert stored_big is not None and stored_big.result_blob == big["resultBlob"]
    assert len(list(services.results.list_result_batches(job_id))) == 6

    # A partition loaded again (an activity retried) does not put finished tasks back to pending.
    load_partition(services, specs, {"jobId": job_id, "specHash": spec_hash, "partition": 0, "partitionSize": 100})
    assert services.tasks.count_by_state(job_id)[TaskState.PENDING] == 0

    reduce = reduce_job(services, specs, {"jobId": job_id, "specHash": spec_hash})
    expected_sum = sum(i * i for i in range(TASKS) if i != FAILING_TASK)
    assert reduce == {
        "ok": True,
        "resultBlob": f"{job_id}/reduce.json",
        "result": {"count": TASKS - 1, "sum": expected_sum, "order": [0, 1, 4, 9, 16], "input": {"k": 1}},
    }
    assert json.loads(services.results.read_blob(f"{job_id}/reduce.json")) == reduce["result"]

    finish: wire.FinishJobInput = {
        "jobId": job_id,
        "state": "failed",
        "reason": "1 of 250 tasks failed (0.4%), more than the tolerated 0%",
        "taskCounts": {"total": TASKS, "pending": 0, "running": 0, "succeeded": TASKS - 1, "failed": 1, "skipped": 0},
        "failedTasks": [f"task-{FAILING_TASK:04d}"],
        "reduce": reduce,
        "startedAt": started,
        "endedAt": datetime.now(UTC).isoformat(),
    }
    name = finish_job(services, finish)
    assert name == f"{job_id}/summary.json"
    summary = services.results.read_summary(job_id)
    assert summary is not None
    assert summary["taskCounts"]["succeeded"] == TASKS - 1 and summary["failedTasks"] == [f"task-{FAILING_TASK:04d}"]
    assert summary["results"]["container"] == "batch-results"
    assert summary["results"]["prefix"] == f"{job_id}/"
    assert summary["results"]["reduce"] == f"{job_id}/reduce.json"
    final = services.jobs.get_job(job_id)
    assert final is not None and final.state == JobState.FAILED
    assert final.task_counts.failed == 1 and final.task_counts.succeeded == TASKS - 1
    assert final.reason == finish["reason"] and final.end_time is not None and final.start_time is not None


def test_recording_a_batch_again_changes_nothing(
    services: Services, specs: SpecCache, job_id: str, submit: Submit
) -> None:
    spec = JobSpec(id=job_id, tasks=tuple(TaskSpec(id=f"t{i}", handler="e2e.square", input={"n": i}) for i in range(5)))
    spec_hash = submit(services, spec)
    tasks = load_partition(
        services, specs, {"jobId": job_id, "specHash": spec_hash, "partition": 0, "partitionSize": 500}
    )
    records = [
        record_of(
            t,
            run_task(
                services,
                specs,
                {"jobId": job_id, "specHash": spec_hash, "taskIndex": t["index"], "taskId": t["id"], "attempt": 1},
            ),
        )
        for t in tasks
    ]
    batch: wire.RecordTasksInput = {"jobId": job_id, "partition": 0, "batch": 0, "records": records}
    record_tasks(services, batch)
    first = services.results.read_blob(f"{job_id}/results/p00000-b00000.jsonl")
    # A late "running" record (a retried write) must not downgrade a finished task.
    late: wire.TaskRecord = {"id": "t1", "index": 1, "state": "running", "attempts": 1}
    record_tasks(services, {"jobId": job_id, "partition": 0, "batch": 1, "records": [late]})
    record_tasks(services, batch)
    assert services.results.read_blob(f"{job_id}/results/p00000-b00000.jsonl") == first
    assert list(services.results.list_result_batches(job_id)) == [f"{job_id}/results/p00000-b00000.jsonl"]
    assert [json.loads(line)["id"] for line in first.splitlines()] == [f"t{i}" for i in range(5)]
    assert services.tasks.count_by_state(job_id)[TaskState.SUCCEEDED] == 5


def test_a_run_for_another_spec_is_refused(services: Services, specs: SpecCache, job_id: str, submit: Submit) -> None:
    spec = JobSpec(id=job_id, tasks=(TaskSpec(id="t0", handler="e2e.square", input={"n": 1}),))
    spec_hash = submit(services, spec)
    with pytest.raises(JobSpecMismatch):
        run_task(services, specs, {"jobId": job_id, "specHash": "f" * 64, "taskIndex": 0, "taskId": "t0", "attempt": 1})
    with pytest.raises(WrongTask):
        run_task(
            services, specs, {"jobId": job_id, "specHash": spec_hash, "taskIndex": 0, "taskId": "other", "attempt": 1}
        )


def test_a_failing_reduce_is_returned_not_raised(
    services: Services, specs: SpecCache, job_id: str, submit: Submit
) -> None:
    # e2e.total reads value["square"]: a result without it makes the reduce fail.
    spec = JobSpec(
        id=job_id, tasks=(TaskSpec(id="t0", handler="e2e.square", input={"n": 1}),), reduce=ReduceSpec("e2e.total")
    )
    spec_hash = submit(services, spec)
    services.results.write_result_batch(job_id, "p00000-b00000", [{"id": "t0", "index": 0, "result": {"wrong": 1}}])
    outcome = reduce_job(services, specs, {"jobId": job_id, "specHash": spec_hash})
    assert not outcome["ok"] and (outcome["error"] or "").startswith("KeyError: 'square'")


def test_a_handler_that_changes_its_input_does_not_change_its_retry(
    services: Services, specs: SpecCache, job_id: str, submit: Submit
) -> None:
    handlers = make_handlers()

    @handlers.task("e2e.pop")
    def pop(value: dict[str, Any]) -> Any:
        return value.pop("n")

    own = Services(services.settings, handlers)
    spec = JobSpec(id=job_id, tasks=(TaskSpec(id="t0", handler="e2e.pop", input={"n": 5}),))
    spec_hash = submit(own, spec)
    request: wire.RunTaskInput = {"jobId": job_id, "specHash": spec_hash, "taskIndex": 0, "taskId": "t0", "attempt": 1}
    own_specs = SpecCache(own.results.read_job_spec)
    assert run_task(own, own_specs, request)["result"] == 5
    assert run_task(own, own_specs, {**request, "attempt": 2})["result"] == 5
