"""Changing a running job: a new cap, tolerance, priority or pool (`PATCH`), disable and enable. The operations
behind the routes, over the durable client and the job record.

The record holds the job's settings as in effect and counts the control events raised so far; each change
raises the next one (`wire.control_event`) on the job's orchestration with the whole new settings, then
writes the record. The job then passes its new budget down to its running groups and partitions: a lower
cap holds once the batches started under the old one have ended (a few seconds: batches are sized to take
about that long), and is not exceeded after that. Two changes of one job sent at the same moment may reach
the job in either order: send them one after another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import azure.durable_functions as df

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.changes import JobChange, parse_disable, parse_job_change
from durable_batch.batch.errors import SpecError
from durable_batch.batch.spec import DEFAULT_MAX_PARALLEL_TASKS, DEFAULT_PRIORITY, JobSpec
from durable_batch.operations.control import is_final, load_job
from durable_batch.operations.durable import get_instance
from durable_batch.operations.errors import Conflict, InvalidRequest, refused_body
from durable_batch.operations.submit import pool_problems, rate_keys_named
from durable_batch.storage.jobs import JobRecord, JobState
from durable_batch.storage.pools import undefined_pool

__all__ = ["disable_job", "enable_job", "read_change", "read_disable", "update_job"]


def read_change(body: Any) -> JobChange:
    """A `PATCH` body, or `InvalidRequest` saying what is wrong and where."""
    try:
        return parse_job_change(body)
    except SpecError as exc:
        raise refused_body(exc) from None


def read_disable(body: Any) -> str:
    """A `disable` body's `disableTasks`, or `InvalidRequest`."""
    try:
        return parse_disable(body)
    except SpecError as exc:
        raise refused_body(exc) from None


async def _live(client: Any, services: Services, job_id: str, action: str) -> JobRecord:
    """The record of a job that is running (or disabled); `Conflict` in any other state."""
    facts = await load_job(client, services, job_id)
    record = facts.record
    if is_final(record):
        raise Conflict(
            f"job {job_id!r} has already finished ({record.state.value}); nothing to {action}", "jobFinished"
        )
    if record.state == JobState.CANCELLING:
        raise Conflict(f"job {job_id!r} is being cancelled; it cannot {action} any more", "jobCancelling")
    if record.state == JobState.PENDING or facts.instance is None:
        raise Conflict(f"job {job_id!r} has not started yet; {action} it once it runs", "jobNotStarted")
    return record


async def _settings(services: Services, record: JobRecord) -> JobRecord:
    """The record with the job's settings filled in from its spec, where the record has none."""
    if record.max_parallel_tasks is not None and record.tolerated_failure_percentage is not None:
        return record
    spec = await asyncio.to_thread(services.results.read_job_spec, record.job_id) or {}
    cap = spec.get("maxParallelTasks", DEFAULT_MAX_PARALLEL_TASKS)
    tolerated = spec.get("toleratedFailurePercentage", 0)
    return dataclasses.replace(
        record,
        max_parallel_tasks=record.max_parallel_tasks if record.max_parallel_tasks is not None else int(cap),
        tolerated_failure_percentage=(
            record.tolerated_failure_percentage if record.tolerated_failure_percentage is not None else float(tolerated)
        ),
    )


async def _apply(client: Any, services: Services, record: JobRecord, moved_to: wire.PoolRef | None = None) -> None:
    """Raise the next control event with the record's settings (and the pool the job moves to), then write the
    record."""
    number = (record.controls or 0) + 1
    new = dataclasses.replace(record, controls=number)
    change: wire.ControlChange = {
        "maxParallelTasks": int(new.max_parallel_tasks or DEFAULT_MAX_PARALLEL_TASKS),
        "toleratedFailurePercentage": float(new.tolerated_failure_percentage or 0),
        "disabled": new.state == JobState.DISABLED,
    }
    if moved_to is not None:
        change["pool"] = moved_to
    try:
        await client.raise_event(record.job_id, wire.control_event(number), change)
    except Exception:
        instance = await get_instance(client, record.job_id)
        if instance is not None and instance.is_active:
            raise
        raise Conflict(f"job {record.job_id!r} finished while it was being changed", "jobFinished") from None
    if not await asyncio.to_thread(services.jobs.upsert_job, new):
        # A cancel (or the job's end) was written first: the job does not take changes any more, whatever the
        # orchestration made of the event. Say so rather than answer as if the change held.
        raise _not_applied(record.job_id, await asyncio.to_thread(services.jobs.get_job, record.job_id))


def _not_applied(job_id: str, now: JobRecord | None) -> Conflict:
    if now is not None and now.state == JobState.CANCELLING:
        return Conflict(f"job {job_id!r} is being cancelled; the change was not applied", "jobCancelling")
    if now is not None and is_final(now):
        state = now.state.value
        return Conflict(f"job {job_id!r} has finished ({state}); the change was not applied", "jobFinished")
    return Conflict(f"job {job_id!r} changed meanwhile; the change was not applied: read it and try again")


async def _pool_for(services: Services, record: JobRecord, pool_id: str, priority: int) -> wire.PoolRef:
    """The pool a `PATCH` moves the job to, as the job carries it; `InvalidRequest` when it does not exist or
    lacks a rate limit the job's spec names."""
    defined = await asyncio.to_thread(services.pools.get, pool_id)
    data = await asyncio.to_thread(services.results.read_job_spec, record.job_id) or {}
    if "taskFactory" in data or "tasks" not in data:
        named: list[tuple[str, str | None]] = [("rateLimitKey", data.get("rateLimitKey"))]
    else:
        named = rate_keys_named(JobSpec.from_json(data))
    problems = pool_problems(pool_id, defined, named)
    if problems:
        first = problems[0]
        message = f"the job cannot move to pool {pool_id!r}: {first['path']}: {first['message']}"
        raise InvalidRequest(message, problems)
    pool = defined or undefined_pool(pool_id, services.settings.default_pool_slots)
    return pool.ref(priority, record.priority_version or 0)


async def update_job(client: Any, services: Services, job_id: str, change: JobChange) -> None:
    """Change the cap, the tolerated failure percentage, the priority and/or the pool of a running (or
    disabled) job.

    A new priority goes to the job's pool entity, which hands out slots by it from its next exchange on (the
    newest version wins, so a job starting meanwhile with the older one cannot undo it). A new pool goes to the
    job with its control event: each partition gives its slots in the old pool back once its running batches
    have ended, and takes slots of the new one from then on."""
    record = await _settings(services, await _live(client, services, job_id, "change"))
    pool_id = record.pool
    moved_to: wire.PoolRef | None = None
    if change.priority is not None:
        version = round(time.time() * 1000)
        record = dataclasses.replace(record, priority=change.priority, priority_version=version)
    if change.pool_id is not None and change.pool_id != pool_id:
        priority = record.priority if record.priority is not None else DEFAULT_PRIORITY
        moved_to = await _pool_for(services, record, change.pool_id, priority)
        pool_id = change.pool_id
        record = dataclasses.replace(record, pool_id=pool_id)
    if change.priority is not None:
        operation = {"job": job_id, "priority": change.priority, "version": record.priority_version}
        await client.signal_entity(df.EntityId(wire.POOL_ENTITY, pool_id), "priority", operation)
    record = dataclasses.replace(
        record,
        max_parallel_tasks=change.max_parallel_tasks
        if change.max_parallel_tasks is not None
        else record.max_parallel_tasks,
        tolerated_failure_percentage=(
            change.tolerated_failure_percentage
            if change.tolerated_failure_percentage is not None
            else record.tolerated_failure_percentage
        ),
    )
    await _apply(client, services, record, moved_to)


async def disable_job(client: Any, services: Services, job_id: str, disable_tasks: str) -> None:
    """Disable a running job: no task starts; with `requeue` running commands are stopped and put back."""
    record = await _settings(services, await _live(client, services, job_id, "disable"))
    if record.state == JobState.DISABLED:
        raise Conflict(f"job {job_id!r} is disabled already; enable it with POST .../enable", "jobDisabled")
    await _apply(client, services, dataclasses.replace(record, state=JobState.DISABLED, disable_tasks=disable_tasks))


async def enable_job(client: Any, services: Services, job_id: str) -> None:
    """Enable a disabled job: its tasks start again, under its cap."""
    record = await _settings(services, await _live(client, services, job_id, "enable"))
    if record.state != JobState.DISABLED:
        raise Conflict(f"job {job_id!r} is not disabled; disable it with POST .../disable", "jobNotDisabled")
    await _apply(client, services, dataclasses.replace(record, state=JobState.RUNNING, disable_tasks=""))
