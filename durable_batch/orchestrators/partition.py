"""The partition orchestrator: runs one partition of a job's tasks under its share of the parallelism cap.

Its tasks are numbered by position (0 .. size-1). It starts tasks as their dependencies succeed, in
**batches**: one RUN_BATCH activity call runs many short tasks of one chunk (`durable_batch.batch.batching` sizes them
from the durations earlier batches measured), and records them itself, so the history holds a few events
per batch, not per task. A batch holds task slots and runs that many of its tasks at once (sync handlers on
threads, `async def` handlers on an event loop, a command alone); the slots in use never exceed the
partition's share, so neither do the tasks running.
A batch of one short task (what `taskBatchSize: 1` gives, and a command measured shorter than a second) hands
its records back rather than write them (`wire.PARTITION_VERSION`): the partition writes those of many such
batches at once through SETTLE_TASKS, so such a task costs an activity call, not three storage round trips.
Failed attempts with retries left are retried after the job's retry interval (a durable timer). Tasks it
settles without running them (skipped, abandoned, cancelled) are recorded through SETTLE_TASKS. A task whose
exit condition says `jobAction: disable` has the job disabled through DISABLE_JOB: the partition starts
nothing while the call runs, and its batches read the job's record before their first task until a control
event has come after it.

The decisions are `durable_batch.batch.partition_scheduler.PartitionScheduler`'s, a pure object; this orchestrator only
makes the durable calls and timers it asks for, waits, and hands it what came back.

Deterministic: no I/O, no wall clock (only `current_utc_datetime`), no randomness. Every decision comes from
the history, so a replay takes the same path.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from datetime import datetime
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.batch.partition_commands import CONTROLS, DEADLINE, STOP, Call, Command, EntityCall, Signal, Timer
from durable_batch.batch.partition_scheduler import PartitionScheduler
from durable_batch.orchestrators.control import Controls, awaiting, pool_of, share_of
from durable_batch.orchestrators.cost import StorageTally, cost_json, history_cost

__all__ = ["STORAGE_RETRY", "event_reason", "partition_orchestrator"]

STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=6)
"""The partition's own activities touch storage: a passing outage must not fail the partition."""


def event_reason(value: Any) -> str:
    """The reason a stop event carries. Raised through the SDK client, event data arrives JSON-encoded once
    more (protocol reference §2.12), so a quoted string is decoded."""
    if isinstance(value, str) and value.startswith('"'):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return str(value or "cancel")


def _make(context: df.DurableOrchestrationContext, command: Command) -> Any:
    """The durable task for a command of the scheduler (None for a signal, which is not waited for)."""
    if isinstance(command, Call):
        if command.retry:
            return context.call_activity_with_retry(command.name, STORAGE_RETRY, command.input)
        return context.call_activity(command.name, command.input)
    if isinstance(command, Timer):
        return context.create_timer(command.at)
    entity = df.EntityId(wire.POOL_ENTITY, command.pool_id)
    if isinstance(command, EntityCall):
        return context.call_entity(entity, command.operation, command.input)
    assert isinstance(command, Signal)
    context.signal_entity(entity, command.operation, command.input)
    return None


def partition_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, wire.PartitionResult]:
    spec = cast(wire.PartitionInput, context.get_input())
    base: dict[str, Any] = {
        "jobId": spec["jobId"],
        "specHash": spec["specHash"],
        "partition": spec["partition"],
        "partitionSize": spec["partitionSize"],
    }
    if spec.get("run", 1) > 1:
        base["run"] = spec["run"]
    controls = Controls(context)
    early: list[Any] = []  # control events that came while the plan loaded: applied once it has come
    plan = spec.get("plan")  # given for a job of plain tasks (`wire.SharedPlan`)
    if plan is None:
        load = context.call_activity_with_retry(wire.LOAD_PARTITION, STORAGE_RETRY, base)
        plan = yield from awaiting(context, load, controls, early.append)
    storage = StorageTally()  # what its activities reported, for the job's cost
    storage.add(plan)
    partition = PartitionScheduler(spec, plan, context.instance_id, controls.seen)
    for data in early:
        partition.take_control(share_of(data), pool_of(data))
    stop_event = context.wait_for_external_event(wire.CANCEL_EVENT)
    deadline_text = spec.get("deadline")
    fixed: dict[str, Any] = {STOP: stop_event}
    if deadline_text:
        fixed[DEADLINE] = context.create_timer(datetime.fromisoformat(deadline_text))
    pending: dict[int, Any] = {}  # ticket -> its durable task, until it completes

    def make_commands() -> None:
        for command in partition.take_commands():
            task = _make(context, command)
            if task is not None:
                pending[command.ticket] = task  # type: ignore[union-attr]

    own = history_cost(context)  # once an episode: the history is whole from its start
    while True:
        finished = partition.step(context.current_utc_datetime)
        make_commands()
        if finished:
            break
        # Every step, replayed or not: the host keeps the status the episode set last, and an episode whose new
        # events start no step (one for a task not waited for yet) sets it only on replayed steps. Without them
        # it set none, and the host cleared the partition's status: the job's counts lost its tasks for a while.
        context.set_custom_status(partition.status(storage.cost_json(own)))
        fixed[CONTROLS] = controls.waiting
        waiting = [fixed[w] if isinstance(w, str) else pending[w] for w in partition.waiting()]
        yield context.task_any(waiting)

        for ticket, task in [(t, task) for t, task in pending.items() if task.is_completed]:
            partition.results[ticket] = task.result
            del pending[ticket]
            if isinstance(task.result, dict):
                storage.add(task.result)
        came, data = controls.take()
        deadline = fixed.get(DEADLINE)
        partition.after_wait(
            context.current_utc_datetime,
            control=(share_of(data), pool_of(data)) if came else None,
            seen=controls.seen,
            stop=event_reason(stop_event.result) if stop_event.is_completed else None,
            deadline=deadline is not None and deadline.is_completed,
        )
        make_commands()

    releasing = partition.returning()
    make_commands()
    cost = cost_json(context, storage.cost, returning=True, signals=1 if releasing else 0)
    return partition.result(cost)
