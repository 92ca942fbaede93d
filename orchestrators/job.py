"""The job orchestrator: plans the job, runs its partitions as sub-orchestrations, reduces, and summarises.

Its instance id is the job id. Its own history holds a few events per partition, not per task, so a job of
100,000 tasks (200 partitions) stays a short history. It runs a few partitions at a time, each with a share of
`maxParallelTasks` (the shares always add up to at most the cap), and hands a finished partition's share to
the next one.

Deterministic: no I/O, no wall clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df

from batch import wire
from batch.plan import DEFAULT_PARTITION_SIZE, concurrency_shares, job_outcome
from batch.spec import OnTaskFailure
from batch.states import JobState, TaskCounts
from orchestrators.partition import event_reason

# Bookkeeping activities touch storage: a passing outage must not fail a job that did all its work.
STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=6)

MIN_SHARE = 32
"""Partitions run at once get at least this many task slots each when the cap allows: fewer partitions with
larger shares replay less (a partition's replay cost grows with its history, and a larger share settles more
tasks per replay)."""

ZERO = TaskCounts(0, 0, 0, 0, 0, 0)


def partitions_at_once(partitions: int, max_parallel: int) -> int:
    return max(1, min(partitions, max_parallel // MIN_SHARE or 1))


def _counts(data: dict[str, int]) -> TaskCounts:
    return TaskCounts(
        **{k: int(data.get(k, 0)) for k in ("total", "pending", "running", "succeeded", "failed", "skipped")}
    )


def job_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    job = cast(wire.JobInput, context.get_input())
    job_id = job["jobId"]
    started_at = context.current_utc_datetime
    prepared: wire.PreparedJob = yield context.call_activity_with_retry(
        wire.PREPARE_JOB,
        STORAGE_RETRY,
        {
            "jobId": job_id,
            "specHash": job["specHash"],
            "partitionSize": job.get("partitionSize", DEFAULT_PARTITION_SIZE),
            "startedAt": started_at.isoformat(),
        },
    )
    sizes = prepared["partitionSizes"]
    max_parallel = prepared["maxParallelTasks"]
    wall_clock = prepared["maxWallClockSeconds"]
    deadline = started_at + timedelta(seconds=wall_clock) if wall_clock else None
    at_once = partitions_at_once(len(sizes), max_parallel)
    free_shares = concurrency_shares(max_parallel, at_once)

    cancel_event = context.wait_for_external_event(wire.CANCEL_EVENT)
    deadline_timer = context.create_timer(deadline) if deadline is not None else None
    running: dict[Any, tuple[int, int]] = {}  # sub-orchestration task -> (partition, share)
    finished = ZERO
    failed_tasks: list[str] = []
    next_partition = 0
    stopping: str | None = None  # "cancel" | "terminate" | "timeout"

    def start(partition: int, share: int, *, skip_all: bool = False) -> Any:
        request: wire.PartitionInput = {
            "jobId": job_id,
            "specHash": job["specHash"],
            "partition": partition,
            "partitionSize": prepared["partitionSize"],
            "share": share,
            "deadline": deadline.isoformat() if deadline else None,
            "onTaskFailure": prepared["onTaskFailure"],
        }
        if skip_all:
            request["skipAll"] = True
        return context.call_sub_orchestrator(
            wire.PARTITION_ORCHESTRATOR, request, wire.partition_instance_id(job_id, partition)
        )

    def stop_running(reason: str) -> Any:
        ids = [wire.partition_instance_id(job_id, p) for p, _ in running.values()]
        request = {"jobId": job_id, "instanceIds": ids, "reason": reason}
        return context.call_activity_with_retry(wire.STOP_PARTITIONS, STORAGE_RETRY, request)

    while True:
        while next_partition < len(sizes) and free_shares and stopping is None:
            share = free_shares.pop()
            running[start(next_partition, share)] = (next_partition, share)
            next_partition += 1
        context.set_custom_status(
            {
                "state": "cancelling" if stopping == "cancel" else JobState.RUNNING.value,
                "taskCounts": finished.to_json(),
                "partitions": {"total": len(sizes), "finished": next_partition - len(running)},
                "running": [wire.partition_instance_id(job_id, p) for p, _ in running.values()],
            }
        )
        if not running:
            break
        waiting = [*running]
        if stopping is None:
            waiting.append(cancel_event)
            if deadline_timer is not None:
                waiting.append(deadline_timer)
        yield context.task_any(waiting)

        new_stop: str | None = None
        for child in [c for c in running if c.is_completed]:
            partition, share = running.pop(child)
            free_shares.append(share)
            if isinstance(child.result, Exception):
                # A partition that crashed leaves its tasks unaccounted for: the job cannot end well.
                raise RuntimeError(f"partition {partition} of job {job_id} failed: {child.result}")
            result: wire.PartitionResult = child.result
            finished = finished + _counts(result["taskCounts"])
            failed_tasks.extend(result["failedTasks"][: wire.MAX_LISTED_FAILURES - len(failed_tasks)])
            if result["terminated"] and new_stop is None and stopping is None:
                new_stop = "terminate"
        if stopping is None and cancel_event.is_completed:
            new_stop = "cancel" if event_reason(cancel_event.result) == "cancel" else "terminate"
        if stopping is None and new_stop is None and deadline_timer is not None and deadline_timer.is_completed:
            new_stop = "timeout"  # the partitions have the same deadline and stop themselves
        if new_stop is not None and stopping is None:
            stopping = new_stop
            if new_stop in ("cancel", "terminate") and running:
                yield stop_running(new_stop)

    # Partitions never started still owe their tasks a record: a quick pass marks them skipped.
    if next_partition < len(sizes):
        skipped_runs = [start(p, 1, skip_all=True) for p in range(next_partition, len(sizes))]
        for result in (yield context.task_all(skipped_runs)):
            finished = finished + _counts(result["taskCounts"])

    if stopping == "cancel":
        state, reason = JobState.CANCELLED, "the job was cancelled"
    else:
        outcome = job_outcome(
            finished.total,
            finished.succeeded,
            finished.failed,
            finished.skipped,
            prepared["toleratedFailurePercentage"],
            terminated_early=stopping == "terminate" and prepared["onTaskFailure"] == OnTaskFailure.TERMINATE_JOB.value,
            timed_out=stopping == "timeout",
        )
        state, reason = outcome.state, outcome.reason

    reduce: wire.ReduceOutcome | None = None
    if state == JobState.SUCCEEDED and prepared["hasReduce"]:
        context.set_custom_status({"state": "reducing", "taskCounts": finished.to_json()})
        reduce = yield context.call_activity_with_retry(
            wire.REDUCE, STORAGE_RETRY, {"jobId": job_id, "specHash": job["specHash"]}
        )
        if reduce is not None and not reduce.get("ok"):
            state, reason = JobState.FAILED, f"the reduce step failed: {reduce.get('error')}"

    summary: wire.FinishJobInput = {
        "jobId": job_id,
        "state": state.value,
        "reason": reason,
        "taskCounts": finished.to_json(),
        "failedTasks": failed_tasks,
        "reduce": reduce,
        "startedAt": started_at.isoformat(),
        "endedAt": context.current_utc_datetime.isoformat(),
    }
    summary_blob = yield context.call_activity_with_retry(wire.FINISH_JOB, STORAGE_RETRY, summary)
    return {**summary, "summaryBlob": summary_blob}
