"""The partition orchestrator: runs one partition of a job's tasks under its share of the parallelism cap.

It keeps its own history bounded (a few events per task of the partition), starts tasks as their
dependencies succeed, retries failed attempts after the job's retry interval (a durable timer), and writes
task records and results in batches through RECORD_TASKS, never one storage round trip per task.

Deterministic: no I/O, no wall clock (only `current_utc_datetime`), no randomness. Every decision comes from
the history, so a replay takes the same path.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df

from batch import wire
from batch.plan import DagScheduler
from batch.spec import OnTaskFailure
from batch.states import TaskState

FLUSH_RECORDS = 100
"""Task records per RECORD_TASKS call; a smaller last batch is written when the partition ends."""
FLUSH_INTERVAL = timedelta(seconds=5)
"""Records waiting longer than this are written even when fewer than FLUSH_RECORDS, so the task API lags a
running job by a few seconds at most."""
RECORD_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)


def event_reason(value: Any) -> str:
    """The reason a stop event carries. Raised through the SDK client, event data arrives JSON-encoded once
    more (protocol reference §2.12), so a quoted string is decoded."""
    if isinstance(value, str) and value.startswith('"'):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return str(value or "cancel")


@dataclass
class _Attempt:
    task: wire.PartitionTask
    attempt: int
    started_at: str | None = None


@dataclass
class PartitionState:
    """The partition's bookkeeping, separate from the generator so it reads as plain code."""

    job_id: str
    partition: int
    scheduler: DagScheduler
    tasks: dict[str, wire.PartitionTask]
    records: list[wire.TaskRecord] = field(default_factory=list)
    batches: int = 0
    failed: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    def record(self, task_id: str, state: TaskState, **fields: Any) -> None:
        task = self.tasks[task_id]
        entry: wire.TaskRecord = {
            "id": task_id,
            "index": task["index"],
            "state": state.value,
            "attempts": self.attempts.get(task_id, 0),
        }
        entry.update(fields)  # type: ignore[typeddict-item]
        self.records.append(entry)

    def skip(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.record(task_id, TaskState.SKIPPED)

    def fail(self, task_id: str, error: str, started_at: str | None, ended_at: str | None, outcome: Any = None) -> None:
        """The task failed for good: it and everything that depends on it are settled. A result the failed
        attempt returned (a command's exit code and where its logs are) is kept in its record."""
        skipped = self.scheduler.mark_failed(task_id)
        if len(self.failed) < wire.MAX_LISTED_FAILURES:
            self.failed.append(task_id)
        kept = {k: outcome[k] for k in ("result", "resultBlob") if k in outcome} if isinstance(outcome, dict) else {}
        self.record(task_id, TaskState.FAILED, error=error, startedAt=started_at, endedAt=ended_at, **kept)
        self.skip(skipped)

    def take_batch(self) -> wire.RecordTasksInput:
        # Only a task's latest record matters: a task that started and finished since the last write is
        # written once, as finished.
        latest = {record["id"]: record for record in self.records}
        batch: wire.RecordTasksInput = {
            "jobId": self.job_id,
            "partition": self.partition,
            "batch": self.batches,
            "records": list(latest.values()),
        }
        self.records = []
        self.batches += 1
        return batch


def _error_of(outcome: Any) -> str:
    if isinstance(outcome, Exception):
        return str(outcome).split("\n", 1)[0][:2000]
    return str(outcome.get("error") or "the task failed")


def partition_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, wire.PartitionResult]:
    spec = cast(wire.PartitionInput, context.get_input())
    job_id, partition = spec["jobId"], spec["partition"]
    tasks: list[wire.PartitionTask] = yield context.call_activity(
        wire.LOAD_PARTITION,
        {
            "jobId": job_id,
            "specHash": spec["specHash"],
            "partition": partition,
            "partitionSize": spec["partitionSize"],
        },
    )
    state = PartitionState(
        job_id,
        partition,
        DagScheduler([t["id"] for t in tasks], [t["dependsOn"] for t in tasks]),
        {t["id"]: t for t in tasks},
    )
    share = max(1, spec["share"])
    terminate_on_failure = spec["onTaskFailure"] == OnTaskFailure.TERMINATE_JOB.value
    stop_event = context.wait_for_external_event(wire.CANCEL_EVENT)
    deadline_text = spec.get("deadline")
    deadline = datetime.fromisoformat(deadline_text) if deadline_text else None
    deadline_timer = context.create_timer(deadline) if deadline is not None else None

    running: dict[Any, _Attempt] = {}  # activity task -> attempt
    backing_off: dict[Any, _Attempt] = {}  # retry timer -> the attempt to make when it fires
    writes: list[Any] = []
    flush_timer: Any = None
    last_flush = context.current_utc_datetime
    terminated = timed_out = cancelled = stopping = False
    if spec.get("skipAll"):
        # The job stopped before this partition started: its tasks are recorded as skipped, not lost.
        stopping = True
        state.skip(state.scheduler.skip_all_pending())

    def start(attempt: _Attempt) -> None:
        request: wire.RunTaskInput = {
            "jobId": job_id,
            "specHash": spec["specHash"],
            "taskIndex": attempt.task["index"],
            "taskId": attempt.task["id"],
            "attempt": attempt.attempt,
        }
        state.attempts[attempt.task["id"]] = attempt.attempt
        running[context.call_activity(wire.RUN_TASK, request)] = attempt

    while True:
        if not stopping:
            for task_id in state.scheduler.ready(max(0, share - state.scheduler.counts.running)):
                start(_Attempt(state.tasks[task_id], 1))
                state.record(task_id, TaskState.RUNNING)
        now = context.current_utc_datetime
        settled = state.scheduler.is_finished
        writes = [w for w in writes if not w.is_completed]
        # One write in flight at a time: the activity then needs no read-before-write to keep a task's record
        # from going back in time, and records that pile up meanwhile go out together in the next batch.
        due = settled or len(state.records) >= FLUSH_RECORDS or now - last_flush >= FLUSH_INTERVAL
        if state.records and not writes and due:
            writes.append(context.call_activity_with_retry(wire.RECORD_TASKS, RECORD_RETRY, state.take_batch()))
            last_flush = now
        if settled and not writes and not state.records:
            break
        context.set_custom_status({"taskCounts": state.scheduler.counts.to_json()})
        waiting = [*running, *backing_off, *writes]
        if not stopping:
            waiting.append(stop_event)
            if deadline_timer is not None:
                waiting.append(deadline_timer)
        if state.records and not settled:
            # Wake up to write records that would otherwise wait for the next completion; one timer at a time,
            # or every pass through the loop would add a timer to the history.
            if flush_timer is None or flush_timer.is_completed:
                flush_timer = context.create_timer(context.current_utc_datetime + FLUSH_INTERVAL)
            waiting.append(flush_timer)
        yield context.task_any(waiting)

        for write in [w for w in writes if w.is_completed]:
            if isinstance(write.result, Exception):
                raise RuntimeError(f"could not write task records of job {job_id}: {write.result}")
        for timer in [t for t in backing_off if t.is_completed]:
            start(backing_off.pop(timer))
        for activity in [a for a in running if a.is_completed]:
            attempt = running.pop(activity)
            task_id = attempt.task["id"]
            outcome = activity.result
            failed = isinstance(outcome, Exception) or not outcome.get("ok")
            started_at = None if isinstance(outcome, Exception) else outcome.get("startedAt")
            ended_at = (
                context.current_utc_datetime.isoformat() if isinstance(outcome, Exception) else outcome.get("endedAt")
            )
            if not failed:
                state.scheduler.mark_succeeded(task_id)
                state.record(
                    task_id,
                    TaskState.SUCCEEDED,
                    result=outcome.get("result"),
                    resultBlob=outcome.get("resultBlob"),
                    startedAt=started_at,
                    endedAt=ended_at,
                )
            elif attempt.attempt <= attempt.task["maxRetryCount"] and not stopping:
                retry = _Attempt(attempt.task, attempt.attempt + 1)
                delay = timedelta(seconds=attempt.task["retryIntervalSeconds"])
                if delay > timedelta(0):
                    backing_off[context.create_timer(context.current_utc_datetime + delay)] = retry
                else:
                    start(retry)
            else:
                state.fail(task_id, _error_of(outcome), started_at, ended_at, outcome)
                if terminate_on_failure and not stopping:
                    terminated = stopping = True
                    state.skip(state.scheduler.skip_all_pending())

        if not stopping and stop_event.is_completed:
            stopping = True
            reason = event_reason(stop_event.result)
            cancelled = reason == "cancel"
            state.skip(state.scheduler.skip_all_pending())
        if not stopping and deadline_timer is not None and deadline_timer.is_completed:
            stopping = timed_out = True
            state.skip(state.scheduler.skip_all_pending())
        if stopping and (cancelled or timed_out):
            # Nobody waits for work a cancelled or timed-out job abandoned: it is settled as failed now.
            # (Command tasks are killed by their activity, which watches the job record.)
            why = "the job was cancelled" if cancelled else "the job ran past maxWallClockSeconds"
            for attempt in [*running.values(), *backing_off.values()]:
                state.fail(attempt.task["id"], f"abandoned: {why}", attempt.started_at, None)
            running.clear()
            backing_off.clear()

    return {
        "partition": partition,
        "taskCounts": state.scheduler.counts.to_json(),
        "failedTasks": state.failed,
        "terminated": terminated,
        "timedOut": timed_out,
        "cancelled": cancelled,
    }
