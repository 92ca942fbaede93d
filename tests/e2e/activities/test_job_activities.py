"""A 250-task job through the activities as its orchestrators would call them, against a real Azurite."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from durable_batch.activities.attempts import attempt_task
from durable_batch.activities.batches import run_batch
from durable_batch.activities.command_tasks import default_work_root
from durable_batch.activities.errors import JobSpecMismatch, WrongTask
from durable_batch.activities.jobs import finish_job, prepare_job
from durable_batch.activities.partitions import load_partition
from durable_batch.activities.reduce import reduce_job
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.spec import JobSpec, ReduceSpec, TaskSpec
from durable_batch.storage.jobs import JobState
from durable_batch.storage.tasks import TaskState
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


def batch_request(job_id: str, spec_hash: str, partition: int, batch: int, first: int, stop: int) -> wire.RunBatchInput:
    return {
        "jobId": job_id,
        "specHash": spec_hash,
        "partition": partition,
        "partitionSize": 100,
        "batch": batch,
        "tasks": [[first, stop, 1]],
        "concurrency": 1,
        "markRunning": False,
    }


def test_a_job_from_prepare_to_finish(services: Services, specs: SpecCache, job_id: str, submit: Submit) -> None:
    spec = job(job_id)
    spec_hash = submit(services, spec)
    folder = services.results.job_prefix(job_id)
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
        # The default pool, at its size from the settings (version 0), and the spec's priority.
        "pool": {"id": "default", "slots": 1000, "version": 0, "priority": 0, "priorityVersion": 0, "rateLimits": {}},
    }
    record = services.jobs.get_job(job_id)
    assert record is not None and record.state == JobState.RUNNING
    assert record.task_counts.total == TASKS and record.task_counts.pending == TASKS
    assert record.start_time == datetime.fromisoformat(started)
    # Every task has its record from the start, pending: the task list shows tasks not started yet.
    assert services.tasks.count_by_state(job_id)[TaskState.PENDING] == TASKS
    pending = services.tasks.get_task(job_id, "task-0200")
    assert pending is not None and pending.state == TaskState.PENDING and pending.partition == 2

    plans = [
        load_partition(services, specs, {"jobId": job_id, "specHash": spec_hash, "partition": p, "partitionSize": 100})
        for p in range(3)
    ]
    assert [p["size"] for p in plans] == [100, 100, 50]
    assert plans[0]["retries"] == 1 and plans[0]["retryOverrides"] == {"0": 3}
    assert plans[0]["retryIntervalSeconds"] == 2.0 and plans[0]["dependsOn"] == {} and plans[0]["kinds"] == {}

    # Two batches a partition, the second one before the first: records are chunk rows, merged.
    outcomes: dict[tuple[int, int], wire.BatchOutcome] = {}
    with ThreadPoolExecutor(4) as pool:
        requests = [
            batch_request(job_id, spec_hash, p, batch, first, stop)
            for p, plan in enumerate(plans)
            for batch, (first, stop) in enumerate([(40, plan["size"]), (0, 40)])
        ]
        for request, outcome in zip(requests, pool.map(lambda r: run_batch(services, specs, r), requests), strict=True):
            outcomes[(request["partition"], request["batch"])] = outcome
    # task-0013 failed its first attempt and has a retry left (the orchestrator retries it after its interval).
    assert outcomes[(0, 1)]["retry"] == [[FAILING_TASK, 1]] and outcomes[(0, 1)]["failed"] == []
    assert all(o["retry"] == [] and o["failed"] == [] for key, o in outcomes.items() if key != (0, 1))
    assert sum(o["ran"] for o in outcomes.values()) == TASKS
    retry: wire.RunBatchInput = {
        **batch_request(job_id, spec_hash, 0, 2, FAILING_TASK, FAILING_TASK + 1),
        "tasks": [[13, 14, 2]],
    }
    again = run_batch(services, specs, retry)
    assert again["failed"] == [[FAILING_TASK, 2, f"task-{FAILING_TASK:04d}"]]

    counts = services.tasks.count_by_state(job_id)
    assert counts[TaskState.SUCCEEDED] == TASKS - 1 and counts[TaskState.FAILED] == 1
    stored = services.tasks.get_task(job_id, "task-0003")
    assert stored is not None and stored.state == TaskState.SUCCEEDED and stored.partition == 0
    assert stored.result_batch == 1 and stored.attempts == 1
    row = services.results.find_result_row(services.results.partition_batch_name(job_id, 0, 1), "task-0003")
    assert row == {"id": "task-0003", "index": 3, "result": {"n": 3, "square": 9}}
    big_row = services.results.find_result_row(services.results.partition_batch_name(job_id, 0, 1), "task-0007")
    assert big_row == {"id": "task-0007", "index": 7, "resultBlob": f"{folder}tasks/task-{BIG_TASK:04d}/result.json"}
    assert json.loads(services.results.read_blob(big_row["resultBlob"]))["padding"] == BIG
    failed = services.tasks.get_task(job_id, f"task-{FAILING_TASK:04d}")
    assert failed is not None and failed.state == TaskState.FAILED and failed.attempts == 2
    assert (failed.error or "").startswith(f"ValueError: task task-{FAILING_TASK:04d} refuses 13")
    assert [r.task_id for r in services.tasks.iter_tasks(job_id, "failed")] == [f"task-{FAILING_TASK:04d}"]
    assert len(list(services.results.list_result_batches(job_id))) == 6

    # Preparing again (an activity retried) does not put finished tasks back to pending.
    prepare_job(services, specs, {"jobId": job_id, "specHash": spec_hash, "partitionSize": 100, "startedAt": started})
    assert services.tasks.count_by_state(job_id)[TaskState.PENDING] == 0

    reduce = reduce_job(services, specs, {"jobId": job_id, "specHash": spec_hash})
    expected_sum = sum(i * i for i in range(TASKS) if i != FAILING_TASK)
    assert reduce == {
        "ok": True,
        "resultBlob": f"{folder}reduce.json",
        "result": {"count": TASKS - 1, "sum": expected_sum, "order": [0, 1, 4, 9, 16], "input": {"k": 1}},
    }
    assert json.loads(services.results.read_blob(f"{folder}reduce.json")) == reduce["result"]

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
    finished = finish_job(services, {**finish, "cost": {"episodes": 3}})
    # The fields an episode makes from its history and clock, as the summary has them, for the job's output.
    assert finished == {"summaryBlob": f"{folder}summary.json", "endedAt": finish["endedAt"], "cost": {"episodes": 3}}
    summary = services.results.read_summary(job_id)
    assert summary is not None
    assert summary["taskCounts"]["succeeded"] == TASKS - 1 and summary["failedTasks"] == [f"task-{FAILING_TASK:04d}"]
    assert summary["results"]["container"] == "batch-results"
    assert summary["results"]["prefix"] == folder
    assert summary["results"]["reduce"] == f"{folder}reduce.json"
    final = services.jobs.get_job(job_id)
    assert final is not None and final.state == JobState.FAILED
    assert final.task_counts.failed == 1 and final.task_counts.succeeded == TASKS - 1
    assert final.reason == finish["reason"] and final.end_time is not None and final.start_time is not None


def prepared(services: Services, specs: SpecCache, spec: JobSpec, submit: Submit) -> str:
    spec_hash = submit(services, spec)
    prepare_job(
        services,
        specs,
        {"jobId": spec.id, "specHash": spec_hash, "partitionSize": 100, "startedAt": datetime.now(UTC).isoformat()},
    )
    return spec_hash


def test_a_batch_run_again_is_not_run_twice(services: Services, specs: SpecCache, job_id: str, submit: Submit) -> None:
    spec = JobSpec(id=job_id, tasks=tuple(TaskSpec(id=f"t{i}", handler="e2e.square", input={"n": i}) for i in range(5)))
    spec_hash = prepared(services, specs, spec, submit)
    folder = services.results.job_prefix(job_id)
    request = batch_request(job_id, spec_hash, 0, 0, 0, 5)
    first_outcome = run_batch(services, specs, request)
    first = services.results.read_blob(f"{folder}results/p00000-b00000.jsonl")
    before = services.tasks.get_task(job_id, "t1")
    # The same batch again (its completion was lost in a crash): recognised, nothing runs or changes.
    assert run_batch(services, specs, request) == {**first_outcome, "busyMs": 0, "ran": 0}
    assert services.results.read_blob(f"{folder}results/p00000-b00000.jsonl") == first
    assert services.tasks.get_task(job_id, "t1") == before
    # A later batch of finished tasks (a late retry) does not run them or take them back.
    late = run_batch(services, specs, {**request, "batch": 1, "tasks": [[1, 2, 2]]})
    assert late["ran"] == 0 and services.tasks.get_task(job_id, "t1") == before
    assert list(services.results.list_result_batches(job_id)) == [f"{folder}results/p00000-b00000.jsonl"]
    assert [json.loads(line)["id"] for line in first.splitlines()] == [f"t{i}" for i in range(5)]
    assert services.tasks.count_by_state(job_id)[TaskState.SUCCEEDED] == 5


def test_a_run_for_another_spec_is_refused(services: Services, specs: SpecCache, job_id: str, submit: Submit) -> None:
    spec = JobSpec(id=job_id, tasks=(TaskSpec(id="t0", handler="e2e.square", input={"n": 1}),))
    spec_hash = prepared(services, specs, spec, submit)
    with pytest.raises(JobSpecMismatch):
        run_batch(services, specs, batch_request(job_id, "f" * 64, 0, 0, 0, 1))
    with pytest.raises(WrongTask):
        run_batch(services, specs, batch_request(job_id, spec_hash, 0, 0, 0, 2))


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
    cached = SpecCache(own.results.read_job_spec).get(job_id, spec_hash)
    work_root = default_work_root(own.settings.work_dir)
    for attempt in (1, 2):
        outcome = attempt_task(own, cached.spec, spec_hash, cached.spec.tasks[0], attempt, work_root=work_root)
        assert outcome.ok and outcome.placed is not None and outcome.placed.value == 5
