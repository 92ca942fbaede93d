"""RUN_BATCH: one activity call runs a batch of a chunk's tasks, and records them in one write.

Each task keeps its own semantics: its attempts (retried at once here when the job's retry interval is 0,
else by the orchestrator after a durable timer), its time limit, its record and its result. A batch runs up to
its `concurrency` (the task slots it holds) at once: sync handlers on threads (`durable_batch.activities.lanes`), `async
def` handlers on one event loop; a command task is a batch of its own.

At the end the batch writes its succeeded tasks' results as one blob (`results/p...-b....jsonl` in its folder) and
then its records as one chunk row (`durable_batch.storage.tasks`), so a batch costs two storage writes however many
tasks it holds. A batch asked to hand its records back (`handBack`: one short task, `wire.PARTITION_VERSION`) reads
and writes nothing: it returns them, and its partition writes those of many batches at once (SETTLE_TASKS).
A host that dies mid-batch has recorded nothing of it: the batch runs again, whole (at least once, as
for any activity). A batch run again after it was recorded (its completion was lost) is recognised by its
number in the chunk row and not run twice. What it returns is what the chunk records, so the orchestrator's
counts and the task records agree.

Before its first task a batch leaves a delivery mark (`durable_batch.activities.deliveries`): a delivery of the same
batch after the process that ran it died (the Functions host delivers the activity again) does not run it into the
same death, but answers `interrupted`, and the partition runs its tasks again **isolated** (`isolate`): one
after another, each in a process of its own (`durable_batch.activities.isolation`), so a task that kills its process
fails alone (`durable_batch.batch.crashes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from durable_batch.activities import telemetry
from durable_batch.activities.attempts import Attempt, HandlerAttempt, attempt_async, attempt_isolated, attempt_task
from durable_batch.activities.command_tasks import CANCEL_POLL_SECONDS, default_work_root
from durable_batch.activities.deliveries import Deliveries
from durable_batch.activities.errors import WrongTask
from durable_batch.activities.handler_tasks import CallResult
from durable_batch.activities.isolation import SHARED_ISOLATION, Isolation, Lane
from durable_batch.activities.lanes import Lanes
from durable_batch.activities.outcomes import json_text
from durable_batch.activities.pacing import Pace
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.job_stop import is_requeue, may_start
from durable_batch.batch.records import CHUNK_SIZE, Chunk, TaskUpdate, rank
from durable_batch.batch.spec import JobSpec, OnTaskFailure, TaskSpec
from durable_batch.batch.states import TaskState
from durable_batch.batch.times import to_ms
from durable_batch.lib.azure_storage.errors import StorageError
from durable_batch.storage.jobs import JobStore
from durable_batch.storage.results import ResultStore
from durable_batch.storage.tasks import Failure

__all__ = ["hand_back", "handed_back_outcome", "outcome_of", "results_writer", "run_batch"]


@dataclass
class _Done:
    """A task's attempts in this batch: the last one, and how many were made."""

    last: Attempt
    attempts: int
    first_started: str


@dataclass(frozen=True)
class _Next:
    """A sync task to run from attempt `attempt` on, after `before` (its attempts so far in this batch)."""

    position: int
    attempt: int
    before: _Done | None = None


def _outcome(result: Attempt) -> str:
    if result.ok:
        return "succeeded"
    if result.cancelled:
        return "cancelled"
    return "timedOut" if result.timed_out else "failed"


def _expand(runs: list[wire.TaskRun]) -> list[tuple[int, int]]:
    return [(position, attempt) for first, stop, attempt in runs for position in range(first, stop)]


def outcome_of(chunk: Chunk, runs: list[tuple[int, int]], busy_ms: int, ran: int) -> wire.BatchOutcome:
    """The batch's tasks as the chunk records them (see `wire.BatchOutcome`)."""
    outcome: wire.BatchOutcome = {"retry": [], "failed": [], "other": [], "busyMs": busy_ms, "ran": ran}
    for position, attempt in runs:
        i = position % CHUNK_SIZE
        state, attempts = chunk.state(i), chunk.attempts[i]
        if state == TaskState.SUCCEEDED:
            continue
        if state == TaskState.FAILED:
            outcome["failed"].append([position, attempts, chunk.ids[i]])
        elif state == TaskState.CANCELLED:
            outcome.setdefault("cancelled", []).append([position, attempts])
        elif state == TaskState.RUNNING and attempts >= attempt:
            outcome["retry"].append([position, attempts])
        elif state == TaskState.SKIPPED:
            outcome["other"].append([position, TaskState.SKIPPED.value])
        else:
            outcome["other"].append([position, TaskState.PENDING.value])
    return outcome


class _Gate:
    """Whether the batch may start its next task: not once the job is disabled, cancelled or ended (read from
    its record at most once per poll, and not before the first poll is due: a short batch costs no read,
    unless `check_now` asks for a read before the first task)."""

    def __init__(self, jobs: JobStore, job_id: str, spec_hash: str, poll_seconds: float, check_now: bool) -> None:
        self._jobs, self._job_id, self._spec_hash, self._poll = jobs, job_id, spec_hash, poll_seconds
        self._last = -math.inf if check_now else time.monotonic()
        self.closed = False

    @property
    def due(self) -> bool:
        return not self.closed and time.monotonic() - self._last >= self._poll

    def open(self) -> bool:
        if self.due:
            self._last = time.monotonic()
            try:
                record = self._jobs.get_job(self._job_id)
            except StorageError:
                return True  # one failed read must not stop the batch; the next poll tries again
            self.closed = not may_start(record, self._spec_hash)
        return not self.closed

    async def open_async(self) -> bool:
        return await asyncio.to_thread(self.open) if self.due else not self.closed


class _Runner:
    """Runs the attempts of one batch's tasks (sync ones from several threads at once)."""

    def __init__(
        self,
        services: Services,
        spec: JobSpec,
        spec_hash: str,
        poll_seconds: float,
        partition: int,
        batch: int,
        check_now: bool = False,
    ) -> None:
        self.services = services
        self.stop_on_failure = spec.on_task_failure == OnTaskFailure.TERMINATE_JOB
        self.partition = partition
        self.batch = batch
        self.spec = spec
        self.spec_hash = spec_hash
        self.poll_seconds = poll_seconds
        self.work_root: Path = default_work_root(services.settings.work_dir)
        self.gate = _Gate(services.jobs, spec.id, spec_hash, poll_seconds, check_now)
        self.busy = 0.0
        self.ran = 0
        self._tally = threading.Lock()
        self.stopped = False
        """A task failed for good under terminateJob: no task of the batch starts any more."""
        # With no wait between attempts, retrying here saves the orchestrator a round trip per retry.
        self.retry_here = spec.retry_interval_seconds == 0
        self.lane: Lane | None = None
        """An isolated batch's lane: its tasks then run in processes of their own
        (`durable_batch.activities.isolation`)."""

    def again_here(self, task: TaskSpec, number: int) -> bool:
        """Whether this batch makes the next attempt after attempt `number` failed (and may be retried)."""
        return self.retry_here and number <= self.spec.retry_count_for(task)

    def count(self, task: TaskSpec, result: Attempt, number: int, began: float, before: _Done | None) -> _Done:
        """Account for one attempt (time and count, for the batch's measured durations, and its log record);
        the task's tally so far, whose start is its first attempt's."""
        seconds = time.perf_counter() - began
        final = result.ok or result.cancelled or not result.retryable or number > self.spec.retry_count_for(task)
        with self._tally:
            self.busy += seconds
            self.ran += 1
            # Before anything else, so that no task of the batch starts once this one has failed for good.
            self.stopped = self.stopped or (final and not result.ok and self.stop_on_failure)
        telemetry.attempt_ended(
            job_id=self.spec.id,
            task_id=task.id,
            partition=self.partition,
            batch=self.batch,
            attempt=number,
            outcome=_outcome(result),
            final=final,
            duration_ms=round(seconds * 1000),
            kind="command" if task.command_line is not None else "handler",
            error=result.error,
        )
        return _Done(result, number, before.first_started if before else result.started)

    def may_start(self) -> bool:
        """Whether the batch may start its next task: no task failed for good under terminateJob, and the gate
        is open."""
        return not self.stopped and self.gate.open()

    def run_isolated(self, task: TaskSpec, attempt: int) -> _Done | None:
        """A task's attempts in this isolated batch's lane: each in a process of its own."""
        assert self.lane is not None
        done: _Done | None = None
        number = attempt
        while True:
            began = time.perf_counter()
            result = attempt_isolated(
                self.services,
                self.spec,
                self.spec_hash,
                task,
                number,
                self.lane,
                work_root=self.work_root,
                cancel_poll_seconds=self.poll_seconds,
            )
            done = self.count(task, result, number, began, done)
            if result.ok or not result.retryable or not self.again_here(task, number):
                return done
            number += 1

    def attempt_command(self, task: TaskSpec, number: int) -> Attempt:
        return attempt_task(
            self.services,
            self.spec,
            self.spec_hash,
            task,
            number,
            work_root=self.work_root,
            cancel_poll_seconds=self.poll_seconds,
        )

    async def run_async(
        self, task: TaskSpec, attempt: int, slots: asyncio.Semaphore, pace: Pace, turn: int
    ) -> _Done | None:
        async with slots:
            if not await pace.turn_async(turn):
                return None  # its start permit's time passed: it goes back unrun, to wait for another
            if self.stopped or not await self.gate.open_async():
                return None  # the job was disabled or stopped, or a task failed for good: this one is not started
            done: _Done | None = None
            number = attempt
            while True:
                began = time.perf_counter()
                result = await attempt_async(self.services, self.spec, task, number)
                done = self.count(task, result, number, began, done)
                if result.ok or not result.retryable or not self.again_here(task, number):
                    return done
                number += 1


def run_batch(
    services: Services,
    specs: SpecCache,
    data: wire.RunBatchInput,
    *,
    cancel_poll_seconds: float = CANCEL_POLL_SECONDS,
    isolation: Isolation | None = None,
) -> wire.BatchOutcome:
    """Run one batch of tasks and record it; see the module. An isolated batch (`isolate`) runs its tasks
    one after another, each in a process of its own, in `isolation`'s children (by default this process's)."""
    job_id, partition, batch = data["jobId"], data["partition"], data["batch"]
    cached = specs.get(job_id, data["specHash"])
    spec = cached.spec
    positions = cached.positions(data["partitionSize"], partition)
    runs = _expand(data["tasks"])
    if not runs:
        raise WrongTask(f"batch {batch} of partition {partition} of job {job_id!r} has no tasks")
    number = runs[0][0] // CHUNK_SIZE
    if any(p // CHUNK_SIZE != number or not 0 <= p < len(positions) for p, _ in runs):
        raise WrongTask(f"batch {batch} of partition {partition} of job {job_id!r} is not within one chunk")
    stored: Chunk | None = None
    if not data.get("handBack"):
        # (A batch that hands its records back has none to read: the partition writes them, and knows which of
        # its tasks it settled meanwhile.)
        stored = services.tasks.read_chunk(job_id, partition, number, remember=True)
        if stored is None:
            raise WrongTask(f"job {job_id!r} has no task records for partition {partition}: it was deleted")
        if batch in stored.done:
            return outcome_of(stored, runs, 0, 0)
    deliveries = Deliveries(default_work_root(services.settings.work_dir) / "deliveries")
    interrupted = deliveries.begin(job_id, partition, batch)
    if interrupted is not None:
        return {"retry": [], "failed": [], "other": [], "busyMs": 0, "ran": 0, "interrupted": interrupted}
    try:
        return _run_delivery(services, spec, positions, runs, data, stored, isolation, cancel_poll_seconds)
    finally:
        deliveries.end(job_id, partition, batch)


def _run_delivery(
    services: Services,
    spec: JobSpec,
    positions: Sequence[int],
    runs: list[tuple[int, int]],
    data: wire.RunBatchInput,
    stored: Chunk | None,
    isolation: Isolation | None,
    cancel_poll_seconds: float,
) -> wire.BatchOutcome:
    """Run the batch's tasks and record them, or hand the records back (the part of `run_batch` after its
    checks; `stored`: the chunk as read before, None when the batch hands its records back)."""
    job_id, partition, batch = data["jobId"], data["partition"], data["batch"]
    job_run = data.get("run", 1)
    store = services.tasks
    number = runs[0][0] // CHUNK_SIZE
    # A task settled meanwhile (abandoned by a cancel, say) is not run again.
    todo = runs if stored is None else [(p, a) for p, a in runs if rank(stored.state(p % CHUNK_SIZE)) < 2]
    # Each task's spec, made once: a factory's tasks are built on every access (a line source's from its block).
    tasks = {p: spec.tasks[positions[p]] for p, _ in todo}
    runner = _Runner(
        services, spec, data["specHash"], cancel_poll_seconds, partition, batch, data.get("checkFirst", False)
    )
    # A batch the gate holds from the start does not mark its tasks running: they never ran.
    if data["markRunning"] and todo and runner.gate.open():
        now = to_ms(datetime.now(UTC))
        marks = [TaskUpdate(p % CHUNK_SIZE, TaskState.RUNNING, a, started_ms=now, run=job_run) for p, a in todo]
        store.record(job_id, partition, number, marks)

    slots = max(1, data["concurrency"])
    # Rate-limited tasks start at their permits' times, in the batch's order (`durable_batch.activities.pacing`).
    pace = Pace(data.get("paced"))
    turns = {p: i for i, (p, _) in enumerate(runs)}
    with contextlib.ExitStack() as stack:
        if data.get("isolate"):
            runner.lane = stack.enter_context((isolation or SHARED_ISOLATION).lane())
            done = _run_isolated(runner, spec, tasks, todo)
        else:
            done = _run_tasks(runner, spec, tasks, todo, slots, pace, turns)

    # Tasks this batch did not start, and (with `requeue`) commands it stopped, go back to pending.
    killed = any(run is not None and run.last.cancelled for run in done.values())
    requeued = killed and is_requeue(services.jobs.get_job(job_id))
    updates, failures, rows = _updates(spec, positions, tasks, done, batch, job_run, requeued)
    for p, a in todo:
        run = done.get(p)
        if (data["markRunning"] and run is None) or (requeued and run is not None and run.last.cancelled):
            # Recorded as running at attempt `a`: back to pending, as if this batch had not run it.
            updates.append(TaskUpdate(p % CHUNK_SIZE, TaskState.PENDING, a - 1, requeue=True, run=job_run))
    actions = _actions(spec, tasks, done)
    if stored is None:
        ids = {p: tasks[p].id for p, _ in runs}  # (a batch that hands back runs all its tasks: `todo` is `runs`)
        handed = hand_back(number, updates, failures, rows, ids)
        if handed is not None:
            outcome = handed_back_outcome(runs, handed, ids, round(runner.busy * 1000), runner.ran)
            return _with_actions(outcome, actions, runner.gate.closed)
    final = store.record(
        job_id,
        partition,
        number,
        updates,
        batch=batch,
        failures=failures,
        before_commit=results_writer(services.results, job_id, partition, batch, rows),
    )
    outcome = outcome_of(final, runs, round(runner.busy * 1000), runner.ran)
    return _with_actions(outcome, actions, runner.gate.closed)


def _with_actions(outcome: wire.BatchOutcome, actions: list[list[Any]], held: bool) -> wire.BatchOutcome:
    if actions:
        outcome["actions"] = actions
    if held:
        outcome["held"] = True
    return outcome


def hand_back(
    number: int,
    updates: list[TaskUpdate],
    failures: dict[str, Failure],
    rows: dict[int, dict[str, Any]],
    ids: dict[int, str],
) -> list[wire.RanTask] | None:
    """A batch's records as it hands them back to its partition (`wire.RanTask`; `ids`: its tasks' ids by
    position), or None when they are too large for that (`wire.HAND_BACK_MAX_BYTES`): the batch then writes
    them itself."""
    handed: list[wire.RanTask] = []
    for update in updates:
        position = number * CHUNK_SIZE + update.index
        task: wire.RanTask = {
            "position": position,
            "state": update.state.value,
            "attempts": update.attempts,
            "startedMs": update.started_ms,
            "endedMs": update.ended_ms,
        }
        if update.error is not None:
            task["error"] = update.error
        if position in rows:
            task["row"] = rows[position]
        failure = failures.get(ids[position]) if update.state == TaskState.FAILED else None
        if failure is not None and failure.result_json is not None:
            task["resultJson"] = failure.result_json
        if failure is not None and failure.result_blob is not None:
            task["resultBlob"] = failure.result_blob
        handed.append(task)
    return handed if len(json_text(handed)) <= wire.HAND_BACK_MAX_BYTES else None


def handed_back_outcome(
    runs: list[tuple[int, int]], handed: list[wire.RanTask], ids: dict[int, str], busy_ms: int, ran: int
) -> wire.BatchOutcome:
    """The batch's outcome from the records it hands back, as `outcome_of` reads it from a chunk: tasks it did
    not run go back as pending."""
    outcome: wire.BatchOutcome = {"retry": [], "failed": [], "other": [], "busyMs": busy_ms, "ran": ran}
    by_position = {task["position"]: task for task in handed}
    for position, _ in runs:
        task = by_position.get(position)
        state = TaskState(task["state"]) if task is not None else TaskState.PENDING
        if task is None or state == TaskState.PENDING:
            outcome["other"].append([position, TaskState.PENDING.value])
        elif state == TaskState.FAILED:
            outcome["failed"].append([position, task["attempts"], ids[position]])
        elif state == TaskState.CANCELLED:
            outcome.setdefault("cancelled", []).append([position, task["attempts"]])
        elif state == TaskState.RUNNING:
            outcome["retry"].append([position, task["attempts"]])
    if handed:
        outcome["handedBack"] = handed
    return outcome


def _run_tasks(
    runner: _Runner,
    spec: JobSpec,
    tasks: dict[int, TaskSpec],
    todo: list[tuple[int, int]],
    slots: int,
    pace: Pace,
    turns: dict[int, int],
) -> dict[int, _Done | None]:
    """Run the batch's tasks up to its slots at once: sync ones on lanes, `async def` ones on one event loop.
    None (or no entry) for a task the batch did not start."""
    done: dict[int, _Done | None] = {}
    is_async = {p: _is_async(runner.services.handlers, tasks[p]) for p, _ in todo}
    sync = [(p, a) for p, a in todo if not is_async[p]]
    if sync:
        done.update(_SyncTasks(runner, spec, tasks, pace, turns).run_all(sync, slots))
    waiting = [(p, a) for p, a in todo if is_async[p]]
    if waiting:
        done.update(asyncio.run(_run_all_async(runner, tasks, waiting, slots, pace, turns)))
    return done


def _run_isolated(
    runner: _Runner, spec: JobSpec, tasks: dict[int, TaskSpec], todo: list[tuple[int, int]]
) -> dict[int, _Done | None]:
    """An isolated batch (`durable_batch.batch.crashes`): its tasks one after another, each attempt in a process of its
    own
    (the lane's child), so a task that kills its process fails alone."""
    done: dict[int, _Done | None] = {}
    for p, a in todo:
        if not runner.may_start():
            break  # the job was disabled or stopped, or a task failed for good: the rest are returned unrun
        task = tasks[p]
        ran = done[p] = runner.run_isolated(task, a)
        if spec.on_task_failure == OnTaskFailure.TERMINATE_JOB and ran is not None and _final(spec, task, ran):
            runner.stopped = runner.stopped or not ran.last.ok
    return done


def _final(spec: JobSpec, task: TaskSpec, run: _Done) -> bool:
    """Whether the task's last attempt settles it: it succeeded, its retries are used up, or its error or
    exit condition says not to retry."""
    return run.last.ok or run.attempts > spec.retry_count_for(task) or not run.last.retryable


def _actions(spec: JobSpec, tasks: dict[int, TaskSpec], done: dict[int, _Done | None]) -> list[list[Any]]:
    """The job and dependency actions that exit conditions set for the tasks this batch settled."""
    actions: list[list[Any]] = []
    for position, run in done.items():
        options = run.last.options if run is not None else None
        if run is None or options is None or (options.job_action is None and options.dependency_action is None):
            continue
        if _final(spec, tasks[position], run):
            job, dependency = options.job_action, options.dependency_action
            actions.append([position, job and job.value, dependency and dependency.value])
    return actions


def _is_async(handlers: Any, task: TaskSpec) -> bool:
    if task.command_line is not None:
        return False
    handler = handlers.get(task.handler or "")
    return handler is not None and bool(handler.is_async)


class _SyncTasks:
    """A batch's sync tasks on lanes (`durable_batch.activities.lanes`), up to the slots it holds, each attempt of a
    handler
    called on its lane's thread and watched against its time limit from the activity's."""

    def __init__(
        self, runner: _Runner, spec: JobSpec, tasks: dict[int, TaskSpec], pace: Pace, turns: dict[int, int]
    ) -> None:
        self.runner, self.spec, self.tasks = runner, spec, tasks
        self.pace, self.turns = pace, turns
        self.done: dict[int, _Done | None] = {}

    def run_all(self, tasks: list[tuple[int, int]], slots: int) -> dict[int, _Done | None]:
        """The tasks' attempts, by position. Tasks not started (the job was disabled or stopped, a task failed
        for good under terminateJob) are left out: they are returned unrun."""
        lanes: Lanes[_Next] = Lanes(slots, lambda _: self.runner.may_start(), self.run)
        items = [_Next(position, attempt) for position, attempt in tasks]
        if len(items) == 1 and self.tasks[items[0].position].command_line is not None:
            # A command alone (as each is): its supervisor keeps its time limit, no lane need watch it, so it
            # runs on this thread, without the handoff to a lane and back.
            if self.runner.may_start():
                self.run(items[0], lanes)
            return self.done
        lanes.run_all(items)
        return self.done

    def run(self, item: _Next, lanes: Lanes[_Next]) -> None:
        runner = self.runner
        task = self.tasks[item.position]
        done, number = item.before, item.attempt
        if done is None and not self.pace.turn(self.turns[item.position]):
            return  # its start permit's time passed: it goes back unrun, to wait for another
        while True:
            began = time.perf_counter()
            if task.command_line is not None:
                result = runner.attempt_command(task, number)
            else:
                attempt = HandlerAttempt(runner.services, self.spec, task, number)
                overran = functools.partial(self.overran, item.position, task, number, attempt, began, done)
                result = attempt.finish(lanes.call(attempt.call, time.monotonic() + attempt.limit, overran))
            done = runner.count(task, result, number, began, done)
            if result.ok or not result.retryable or not runner.again_here(task, number):
                break
            number += 1
        self.done[item.position] = done

    def overran(
        self, position: int, task: TaskSpec, number: int, attempt: HandlerAttempt, began: float, before: _Done | None
    ) -> _Next | None:
        """An attempt past its time limit, ended as timed out while its handler runs on; what comes next for
        its task in this batch (its next attempt), if anything."""
        result = attempt.finish(CallResult(finished=False))
        done = self.done[position] = self.runner.count(task, result, number, began, before)
        return _Next(position, number + 1, done) if self.runner.again_here(task, number) else None


async def _run_all_async(
    runner: _Runner,
    tasks: dict[int, TaskSpec],
    waiting: list[tuple[int, int]],
    concurrency: int,
    pace: Pace,
    turns: dict[int, int],
) -> dict[int, _Done | None]:
    slots = asyncio.Semaphore(concurrency)
    results = await asyncio.gather(*(runner.run_async(tasks[p], a, slots, pace, turns[p]) for p, a in waiting))
    return {p: result for (p, _), result in zip(waiting, results, strict=True)}


def _updates(
    spec: JobSpec,
    positions: Sequence[int],
    tasks: dict[int, TaskSpec],
    done: dict[int, _Done | None],
    batch: int,
    run_number: int,
    requeued: bool,
) -> tuple[list[TaskUpdate], dict[str, Failure], dict[int, dict[str, Any]]]:
    """The chunk updates (of the job's run `run_number`), failure details and result rows (by position) of the
    batch's attempts."""
    updates: list[TaskUpdate] = []
    failures: dict[str, Failure] = {}
    rows: dict[int, dict[str, Any]] = {}
    for position, run in done.items():
        if run is None:
            continue
        index = positions[position]
        task = tasks[position]
        last = run.last
        started, ended = to_ms(run.first_started), to_ms(last.ended)
        i = position % CHUNK_SIZE
        if last.ok:
            row: dict[str, Any] = {"id": task.id, "index": index}
            if last.placed is not None and last.placed.blob is not None:
                row["resultBlob"] = last.placed.blob
            else:
                row["result"] = last.placed.value if last.placed is not None else None
            rows[position] = row
            updates.append(
                TaskUpdate(i, TaskState.SUCCEEDED, run.attempts, started, ended, batch=batch, run=run_number)
            )
            continue
        error = last.error or "the task failed"
        if last.cancelled and requeued:
            continue  # stopped by a disable with `requeue`: it goes back to pending (see `run_batch`)
        if last.cancelled:
            # Killed because its job was cancelled: that is the job's doing, not a failure, and not retried.
            updates.append(
                TaskUpdate(i, TaskState.CANCELLED, run.attempts, started, ended, error=error, run=run_number)
            )
            continue
        if not _final(spec, task, run):
            # Retries remain: the task stays running until the orchestrator's timer starts the next attempt.
            updates.append(TaskUpdate(i, TaskState.RUNNING, run.attempts, started, ended, error=error, run=run_number))
            continue
        updates.append(TaskUpdate(i, TaskState.FAILED, run.attempts, started, ended, error=error, run=run_number))
        placed = last.placed
        failures[task.id] = Failure(
            task.id,
            error,
            result_json=json_text(placed.value) if placed is not None and placed.blob is None else None,
            result_blob=placed.blob if placed is not None else None,
        )
    return updates, failures, rows


def results_writer(
    results: ResultStore, job_id: str, partition: int, batch: int, rows: dict[int, dict[str, Any]]
) -> Callable[[Chunk, list[int]], None]:
    """Writes, before the chunk row, the result rows of the tasks the chunk is about to record as succeeded
    by this batch (a task settled meanwhile keeps its record, and its result row is left out)."""
    written: list[list[int]] = []

    def write(chunk: Chunk, changed: list[int]) -> None:
        keep = sorted(
            p
            for p in rows
            if chunk.state(p % CHUNK_SIZE) == TaskState.SUCCEEDED and chunk.batches[p % CHUNK_SIZE] == batch
        )
        if not keep or (written and written[-1] == keep):
            return
        results.write_partition_batch(job_id, partition, batch, [rows[p] for p in keep])
        written.append(keep)

    return write
