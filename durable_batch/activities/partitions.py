"""LOAD_PARTITION and SETTLE_TASKS: a partition's plan, the tasks it settles without running them, and the
records that batches of one task handed back to it (`wire.PARTITION_VERSION`).

A partition's tasks are numbered by their position in it (0 .. size-1); its chunk `k` holds positions
`k * CHUNK_SIZE` onwards (`durable_batch.batch.records`). The job's prepare step writes every chunk row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from durable_batch.activities.batches import results_writer
from durable_batch.activities.errors import WrongTask
from durable_batch.activities.specs import CachedJob, SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.records import CHUNK_SIZE, TaskUpdate, rank
from durable_batch.batch.states import TaskCounts, TaskState
from durable_batch.batch.times import iso_now, to_ms
from durable_batch.storage.tasks import Failure

__all__ = ["chunk_layout", "chunk_positions", "load_partition", "settle_partitions", "settle_tasks", "shared_plan"]


def chunk_positions(cached: CachedJob, partition_size: int) -> Iterator[tuple[int, int, Sequence[int]]]:
    """(partition, chunk, the job positions of its tasks) of every chunk of the job, in order."""
    for partition in range(len(cached.plan(partition_size).partitions)):
        positions = cached.positions(partition_size, partition)
        for number, start in enumerate(range(0, len(positions), CHUNK_SIZE)):
            yield partition, number, positions[start : start + CHUNK_SIZE]


def chunk_layout(cached: CachedJob, partition_size: int) -> Iterator[tuple[int, int, Sequence[str]]]:
    """(partition, chunk, task ids) of every chunk of the job, in order: what prepare writes. A factory's ids
    come without building its tasks (`JobSpec.task_id`)."""
    spec = cached.spec
    for partition, number, positions in chunk_positions(cached, partition_size):
        yield partition, number, spec.task_ids(positions)


def shared_plan(services: Services, cached: CachedJob) -> wire.SharedPlan | None:
    """The plan of every partition of the job but its size, when its tasks are plain handler tasks
    (`durable_batch.batch.plain_tasks`) whose handlers this app runs as sync ones; None when a partition's plan
    is made from its tasks (an `async def` handler's tasks are each listed in it)."""
    named = cached.plain_handlers
    if named is None:
        return None
    for name in named:
        handler = services.handlers.get(name)
        if handler is not None and handler.is_async:
            return None
    spec = cached.spec
    return {
        "dependsOn": {},
        "retries": spec.max_task_retry_count,
        "retryOverrides": {},
        "retryIntervalSeconds": spec.retry_interval_seconds,
        "kinds": {},
        "batchSize": spec.task_batch_size,
    }


def load_partition(services: Services, specs: SpecCache, data: wire.LoadPartitionInput) -> wire.PartitionPlan:
    """What the partition orchestrator needs to schedule its tasks, and nothing it doesn't (see the wire)."""
    cached = specs.get(data["jobId"], data["specHash"])
    positions = cached.positions(data["partitionSize"], data["partition"])
    shared = shared_plan(services, cached)
    size = len(positions)
    plan = _plan_of_tasks(services, cached, positions) if shared is None else wire.sized_plan(shared, size)
    if data.get("run", 1) > 1:
        plan["done"] = _succeeded_ranges(services, data["jobId"], data["partition"], size)
    return plan


def _plan_of_tasks(services: Services, cached: CachedJob, positions: Sequence[int]) -> wire.PartitionPlan:
    """A partition's plan, made from its tasks."""
    spec = cached.spec
    local = {spec.tasks[g].id: i for i, g in enumerate(positions)}
    depends_on: dict[str, list[int]] = {}
    overrides: dict[str, int] = {}
    kinds: dict[str, str] = {}
    rate_keys: dict[str, str] = {}
    for i, g in enumerate(positions):
        task = spec.tasks[g]
        key = spec.rate_limit_key_for(task)
        if key is not None:
            rate_keys[str(i)] = key
        if task.has_dependencies:
            depends_on[str(i)] = [local[d] for d in task.dependency_ids()]
        retries = spec.retry_count_for(task)
        if retries != spec.max_task_retry_count:
            overrides[str(i)] = retries
        if task.command_line is not None:
            kinds[str(i)] = "command"
        else:
            handler = services.handlers.get(task.handler or "")
            if handler is not None and handler.is_async:
                kinds[str(i)] = "async"
    plan: wire.PartitionPlan = {
        "size": len(positions),
        "dependsOn": depends_on,
        "retries": spec.max_task_retry_count,
        "retryOverrides": overrides,
        "retryIntervalSeconds": spec.retry_interval_seconds,
        "kinds": kinds,
        "batchSize": spec.task_batch_size,
    }
    if rate_keys:
        plan["rateKeys"] = rate_keys
    return plan


def _succeeded_ranges(services: Services, job_id: str, partition: int, size: int) -> list[list[int]]:
    """A re-run's partition: the positions whose tasks succeeded in an earlier run, as [first, stop] ranges
    (they are not run again, and their dependents count them as satisfied)."""
    ranges: list[list[int]] = []
    for number in range((size + CHUNK_SIZE - 1) // CHUNK_SIZE):
        chunk = services.tasks.read_chunk(job_id, partition, number)
        if chunk is None:
            continue
        for i in range(len(chunk)):
            if chunk.state(i) != TaskState.SUCCEEDED:
                continue
            position = number * CHUNK_SIZE + i
            if ranges and ranges[-1][1] == position:
                ranges[-1][1] = position + 1
            else:
                ranges.append([position, position + 1])
    return ranges


def settle_tasks(services: Services, specs: SpecCache, data: wire.SettleTasksInput) -> wire.SettleOutcome:
    """Record tasks as skipped, as failed without a result (abandoned), or as cancelled, and the tasks that
    batches handed back as they ran them (their results in one blob, numbered `batch`), chunk by chunk.

    The no-downgrade rule keeps a task that finished meanwhile (a batch abandoned by a cancel that returned
    anyway) as it finished; the outcome says how each task is recorded, so the partition's counts are the
    records' counts. `failedIds`: the first `wire.MAX_LISTED_FAILURES` recorded as failed here.
    """
    job_id, partition, run = data["jobId"], data["partition"], data.get("run", 1)
    cached = specs.get(job_id, data["specHash"])
    positions = cached.positions(data["partitionSize"], partition)
    now = to_ms(iso_now())
    by_chunk: dict[int, list[TaskUpdate]] = defaultdict(list)
    failures: dict[int, dict[str, Failure]] = defaultdict(dict)
    for first, stop in data["skipped"]:
        for position in range(first, stop):
            by_chunk[position // CHUNK_SIZE].append(TaskUpdate(position % CHUNK_SIZE, TaskState.SKIPPED, 0, run=run))
    for position, attempts, error in data["failed"]:
        number = position // CHUNK_SIZE
        update = TaskUpdate(position % CHUNK_SIZE, TaskState.FAILED, attempts, ended_ms=now, error=error, run=run)
        by_chunk[number].append(update)
        task_id = cached.spec.tasks[positions[position]].id
        failures[number][task_id] = Failure(task_id, error)
    for position, attempts, error in data.get("cancelled") or ():
        update = TaskUpdate(position % CHUNK_SIZE, TaskState.CANCELLED, attempts, ended_ms=now, error=error, run=run)
        by_chunk[position // CHUNK_SIZE].append(update)
    asked = {number: list(updates) for number, updates in by_chunk.items()}
    batch = data.get("batch")
    rows: dict[int, dict[str, Any]] = {}
    handed = data.get("handedBack") or []
    if len({task["position"] // CHUNK_SIZE for task in handed}) > 1:
        raise WrongTask(f"tasks handed back to partition {partition} of job {job_id!r} are not of one chunk")
    for task in handed:
        # Tasks batches ran and handed back: recorded as those batches would have, their results in one blob.
        position, state = task["position"], TaskState(task["state"])
        number = position // CHUNK_SIZE
        by_chunk[number].append(
            TaskUpdate(
                position % CHUNK_SIZE,
                state,
                task["attempts"],
                task["startedMs"],
                task["endedMs"],
                error=task.get("error"),
                batch=batch if state == TaskState.SUCCEEDED else None,
                run=run,
            )
        )
        if "row" in task:
            rows[position] = task["row"]
        if state == TaskState.FAILED:
            task_id = cached.spec.tasks[positions[position]].id
            failures[number][task_id] = Failure(
                task_id, task.get("error") or "the task failed", task.get("resultJson"), task.get("resultBlob")
            )
    writer = results_writer(services.results, job_id, partition, batch, rows) if rows and batch is not None else None
    recorded: dict[str, int] = defaultdict(int)
    failed_ids: list[str] = []
    for number, updates in sorted(by_chunk.items()):
        chunk = services.tasks.record(
            job_id,
            partition,
            number,
            updates,
            batch=batch,
            failures=failures[number],
            before_commit=writer,
        )
        # The partition counted the tasks handed back as they ran: only what it asked to settle is counted here.
        for update in asked.get(number, ()):
            state = chunk.state(update.index)
            recorded[state.value] += 1
            if state == TaskState.FAILED and update.state == TaskState.FAILED:
                failed_ids.append(chunk.ids[update.index])
    return {"failedIds": failed_ids[: wire.MAX_LISTED_FAILURES], "recorded": dict(recorded)}


def settle_partitions(services: Services, specs: SpecCache, data: wire.SettlePartitionsInput) -> wire.SettledPartitions:
    """Fail every unfinished task of partitions whose orchestration ended without returning (it failed, or
    was terminated from outside), so no task stays `running` or `pending` once the job has ended; returns the
    partitions' counts as recorded, which the job adds to its own."""
    job_id, run = data["jobId"], data.get("run", 1)
    cached = specs.get(job_id, data["specHash"])
    now = to_ms(iso_now())
    error = f"abandoned: {data['reason']}"
    total = TaskCounts()
    failed_ids: list[str] = []
    for partition in data["partitions"]:
        positions = cached.positions(data["partitionSize"], partition)
        for number in range((len(positions) + CHUNK_SIZE - 1) // CHUNK_SIZE):
            chunk = services.tasks.read_chunk(job_id, partition, number)
            if chunk is None:
                continue
            open_tasks = [i for i in range(len(chunk)) if rank(chunk.state(i)) < 2]
            updates = [
                TaskUpdate(i, TaskState.FAILED, chunk.attempts[i], ended_ms=now, error=error, run=run)
                for i in open_tasks
            ]
            failures = {chunk.ids[i]: Failure(chunk.ids[i], error) for i in open_tasks}
            if updates:
                chunk = services.tasks.record(job_id, partition, number, updates, failures=failures)
            total = total + chunk.counts()
            failed_ids.extend(chunk.ids[i] for i in range(len(chunk)) if chunk.state(i) == TaskState.FAILED)
    return {"taskCounts": total.to_json(), "failedIds": failed_ids[: wire.MAX_LISTED_FAILURES]}
