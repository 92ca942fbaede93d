"""LOAD_PARTITION and RECORD_TASKS: a partition's tasks, and the records and results it writes in batches."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from activities.errors import WrongTask
from activities.outcomes import parse_time
from activities.specs import SpecCache
from app.services import Services
from batch import wire
from storage.results import ResultStore
from storage.tasks import INLINE_RESULT_MAX_CHARS, TaskRecord, TaskState

__all__ = ["load_partition", "record_tasks", "result_batch_name", "result_rows", "to_task_record"]


def load_partition(services: Services, specs: SpecCache, data: wire.LoadPartitionInput) -> list[wire.PartitionTask]:
    """The partition's tasks in task order.

    No `pending` records are written: a task gets its first record when it starts (or is skipped), so a job
    pays one table write per task, not three. The job's counts still include its pending tasks.
    """
    job_id, index = data["jobId"], data["partition"]
    cached = specs.get(job_id, data["specHash"])
    spec, plan = cached.spec, cached.plan(data["partitionSize"])
    if not 0 <= index < len(plan.partitions):
        raise WrongTask(f"job {job_id!r} has {len(plan.partitions)} partitions, not one numbered {index}")
    tasks: list[wire.PartitionTask] = []
    for i in plan.partitions[index].task_indexes():
        task = spec.tasks[i]
        tasks.append(
            {
                "index": i,
                "id": task.id,
                "dependsOn": list(task.depends_on),
                "maxRetryCount": spec.retry_count_for(task),
                "retryIntervalSeconds": spec.retry_interval_seconds,
            }
        )
    return tasks


def result_batch_name(partition: int, batch: int) -> str:
    """The results blob stem of one RECORD_TASKS call: fixed by (partition, batch), so a retry rewrites it."""
    return f"p{partition:05d}-b{batch:05d}"


def result_rows(records: Iterable[wire.TaskRecord]) -> list[dict[str, Any]]:
    """The rows of a results blob: one per succeeded task, in task order, `{"id", "index"}` plus either
    `result` (inline) or `resultBlob` (the task's own blob). A reduce sees exactly these tasks."""
    rows: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: r["index"]):
        if record["state"] != TaskState.SUCCEEDED.value:
            continue
        row: dict[str, Any] = {"id": record["id"], "index": record["index"]}
        if record.get("resultBlob"):
            row["resultBlob"] = record["resultBlob"]
        else:
            row["result"] = record.get("result")
        rows.append(row)
    return rows


def to_task_record(results: ResultStore, job_id: str, partition: int, record: wire.TaskRecord) -> TaskRecord:
    """A wire record as the task table stores it. An inline result too large for the table (the activities
    never return one) is moved to the task's result blob rather than refused."""
    result_json: str | None = None
    result_blob = record.get("resultBlob") or None
    if "result" in record and result_blob is None:
        result_json = json.dumps(record["result"], separators=(",", ":"), ensure_ascii=False)
        if len(result_json) > INLINE_RESULT_MAX_CHARS:
            placed = results.place_task_result(job_id, record["id"], record["result"])
            result_json, result_blob = placed.inline_json, placed.blob
    return TaskRecord(
        task_id=record["id"],
        state=TaskState(record["state"]),
        attempts=record.get("attempts", 0),
        error=record.get("error"),
        start_time=parse_time(record.get("startedAt")),
        end_time=parse_time(record.get("endedAt")),
        result_json=result_json,
        result_blob=result_blob,
        partition=partition,
    )


def record_tasks(services: Services, data: wire.RecordTasksInput) -> None:
    """Write a partition's batch of task records to the task table, and its succeeded tasks' results to ONE
    results blob named by (partition, batch). The blob goes first, so a task the table shows as succeeded
    always has its result in place.

    The records are upserted as given, without the store's read-before-write merge rule: the partition
    orchestrator is the only writer of its tasks' records and has at most one of these calls in flight, so
    a batch (or its re-run after a crash) is always older than the next one. That halves the round trips."""
    job_id, partition = data["jobId"], data["partition"]
    records = data["records"]
    rows = result_rows(records)
    results = services.results
    if rows:
        results.write_result_batch(job_id, result_batch_name(partition, data["batch"]), rows)
    services.tasks.upsert_tasks(job_id, [to_task_record(results, job_id, partition, r) for r in records], force=True)
