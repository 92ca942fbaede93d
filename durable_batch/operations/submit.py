"""Submitting a job: validate, record, store the spec, start the orchestrator. Shared by `POST /api/jobs` and
the job schedule, so both get the same validation and the same idempotency.

The writes happen in this order, each safe to repeat:

1. the job record, `pending`, with the spec's hash, created only if the id has none (`JobStore.create_job`):
   of two submits of one id exactly one creates it, and a spec with another hash is refused (409);
2. the canonical spec, at `{jobId}/job.json` in the results container (the same bytes every time);
3. the job orchestrator, instance id = job id.

A submit that stopped between them (a crash, a timeout) is finished by the next submit of the same spec: it
finds the record `pending` and no orchestration instance, writes the spec again and starts the instance.
Nothing runs twice: the Durable runtime refuses to start an instance whose id is pending or running, and a
submit that loses that race finds the instance started by the other one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.errors import SpecError
from durable_batch.batch.plan import partition_size_for, plan_job
from durable_batch.batch.schedules import occurrence_of
from durable_batch.batch.spec import DEFAULT_POOL, JobSpec
from durable_batch.batch.times import iso
from durable_batch.batch.validation import parse_job
from durable_batch.operations.durable import Instance, get_instance
from durable_batch.operations.errors import Conflict, InvalidJobSpec, refused_spec
from durable_batch.operations.job_turns import one_at_a_time
from durable_batch.operations.sources import resolve_factory
from durable_batch.storage.jobs import JobRecord, JobState, TaskCounts
from durable_batch.storage.pools import PoolRecord

log = logging.getLogger("durable_batch.operations.submit")


def parse_spec(body: Any, services: Services, new_id: Callable[[], str] | None) -> JobSpec:
    """Validate a job spec with the app's handlers and limits; `InvalidJobSpec` or `TooLarge` with every problem.

    `new_id` names a job submitted without an id; without it, a missing id is a problem."""
    settings = services.settings
    try:
        return parse_job(
            body,
            known_handlers=services.handlers.keys(),
            allow_command_tasks=settings.allow_command_tasks,
            max_body_bytes=settings.max_body_bytes,
            max_tasks=settings.max_tasks,
            new_job_id=new_id,
        )
    except SpecError as exc:
        raise refused_spec(exc) from exc


def rate_keys_named(spec: JobSpec) -> list[tuple[str, str | None]]:
    """The rate limit keys a job names, each with its path: the job's, and each inline task's. A task
    factory's tasks are checked when they run: one whose key the pool does not limit starts without a limit."""
    named = [("rateLimitKey", spec.rate_limit_key)]
    if spec.factory is None:
        named += [(f"tasks[{i}].rateLimitKey", task.rate_limit_key) for i, task in enumerate(spec.tasks)]
    return named


def pool_problems(
    pool_id: str, pool: PoolRecord | None, named: list[tuple[str, str | None]], pool_path: str = "poolInfo.poolId"
) -> list[dict[str, str]]:
    """What keeps a job from running in a pool: the pool does not exist (the default pool always does), or
    lacks a rate limit the job names (`rate_keys_named`); each problem with its path."""
    if pool is None and pool_id != DEFAULT_POOL:
        message = f"no pool has the id {pool_id!r}: define it first with PUT /api/pools/{pool_id}"
        return [{"path": pool_path, "message": message}]
    keys = {limit.key for limit in pool.rate_limits} if pool is not None else set()
    problems: list[dict[str, str]] = []
    for path, key in named:
        if key is not None and key not in keys and len(problems) < 100:
            known = ", ".join(sorted(keys)) or "none"
            message = f"pool {pool_id!r} has no rate limit {key!r} (its rate limits: {known})"
            problems.append({"path": path, "message": message})
    return problems


def check_pool(spec: JobSpec, pool: PoolRecord | None) -> None:
    """A job's pool must exist and have the rate limits its tasks name; `InvalidJobSpec` with each problem's
    path otherwise."""
    problems = pool_problems(spec.pool_id, pool, rate_keys_named(spec))
    if problems:
        first = problems[0]
        raise InvalidJobSpec(f"invalid job spec: {first['path']}: {first['message']}", problems)


@dataclass(frozen=True)
class Submitted:
    record: JobRecord
    created: bool
    """False when the job existed already with the same spec: nothing new was started."""
    instance: Instance | None = None
    """The existing job's orchestration, as read to decide (with its input): the view needs no second read."""


async def submit_body(
    client: Any, services: Services, body: Any, now: datetime, new_id: Callable[[], str] | None = None
) -> tuple[JobSpec, Submitted]:
    """A job spec as a user sends it (JSON bytes or an object), checked and submitted: what `POST /api/jobs` and
    an app's own orchestration (`durable_batch.run_job`) both do. `new_id` names a job sent without an id."""
    spec = parse_spec(body, services, new_id)
    await refuse_occurrence_id(services, spec.id)
    async with one_at_a_time(spec.id):
        return spec, await submit_job(client, services, spec, now)


async def refuse_occurrence_id(services: Services, job_id: str) -> None:
    """`InvalidJobSpec` when `job_id` is the id of an occurrence of an existing schedule: those ids are the
    schedule's (`durable_batch.batch.schedules`), and a job that took one first would make its occurrence fail."""
    found = occurrence_of(job_id)
    if found is None or await asyncio.to_thread(services.schedules.get, found[0]) is None:
        return
    schedule_id, moment = found
    message = (
        f"{job_id!r} is the id of the occurrence at {iso(moment)} of schedule {schedule_id!r}: ids "
        f"'{schedule_id}-{{YYYYmmddTHHMMSS}}' are reserved for that schedule's jobs; choose another id"
    )
    raise InvalidJobSpec(f"invalid job spec: id: {message}", [{"path": "id", "message": message}])


async def submit_job(client: Any, services: Services, spec: JobSpec, now: datetime) -> Submitted:
    """Create and start the job, or return the existing one of the same id and spec (`Conflict` if its spec
    differs). A task factory's source is read and checked first (`durable_batch.operations.sources`)."""
    check_pool(spec, await asyncio.to_thread(services.pools.get, spec.pool_id))
    spec, writes = await asyncio.to_thread(resolve_factory, spec, services)
    spec_hash = spec.canonical_hash()
    count = len(spec.tasks)
    record = JobRecord(
        job_id=spec.id,
        state=JobState.PENDING,
        created=now,
        task_counts=TaskCounts(total=count, pending=count),
        spec_hash=spec_hash,
        pool_id=spec.pool_id,
        priority=spec.priority,
    )
    jobs = services.jobs
    created = await asyncio.to_thread(jobs.create_job, record)
    if not created:
        existing = await asyncio.to_thread(jobs.get_job, spec.id)
        if existing is None:
            # Deleted between the two calls: a stale answer would be wrong either way; the client retries.
            raise Conflict(f"job {spec.id!r} was being deleted while it was submitted; submit it again")
        if existing.spec_hash != spec_hash:
            raise Conflict(
                f"a job with id {spec.id!r} exists with another spec; submit the same spec to get the existing "
                "job, choose another id, or delete the existing job first",
                code="jobExists",
            )
        instance = await get_instance(client, spec.id, with_input=True)
        if existing.state != JobState.PENDING or instance is not None:
            return Submitted(existing, created=False, instance=instance)
        log.warning("job %s: its record exists but its orchestration does not; starting it now", spec.id)
        record = existing
    for write in writes:
        await asyncio.to_thread(write)
    partition_size = partition_size_for(spec, services.settings.partition_size)
    await asyncio.to_thread(store_spec, services, spec, partition_size)
    job_input: wire.JobInput = {"jobId": spec.id, "specHash": spec_hash, "partitionSize": partition_size}
    await _start(client, job_input)
    return Submitted(record, created=created)


def store_spec(services: Services, spec: JobSpec, partition_size: int) -> None:
    """Store the spec; an inline job's with the index of its tasks, so a task's view reads that task alone
    (`durable_batch.storage.task_index`). A factory's tasks are read by blocks of their source already."""
    if spec.factory is not None:
        services.results.write_job_spec(spec.id, spec.to_json())
        return
    plan = plan_job(spec, partition_size) if any(task.has_dependencies for task in spec.tasks) else None
    services.results.write_job_spec(spec.id, spec.to_json(), partition_size, plan)


async def _start(client: Any, job_input: wire.JobInput) -> None:
    job_id = job_input["jobId"]
    try:
        await client.start_new(wire.JOB_ORCHESTRATOR, job_id, job_input)
    except Exception:
        # A concurrent submit of the same spec started it first: that is success. Anything else is not.
        if await get_instance(client, job_id) is None:
            raise
        log.info("job %s: its orchestration was started by a concurrent submit", job_id)
