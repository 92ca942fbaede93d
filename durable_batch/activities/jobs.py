"""PREPARE_JOB and FINISH_JOB: the start and the end of a job, in its record and its summary blob."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from durable_batch.activities import telemetry
from durable_batch.activities.partitions import chunk_layout, shared_plan
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.spec import JobSpec
from durable_batch.batch.times import parse_time
from durable_batch.storage.jobs import JOB_STATE_RANK, JobRecord, JobState, TaskCounts
from durable_batch.storage.pools import undefined_pool

__all__ = ["ended_before_start", "finish_job", "prepare_job", "prepare_rerun", "task_counts"]

_COUNT_FIELDS = tuple(f.name for f in fields(TaskCounts))


def task_counts(data: dict[str, int]) -> TaskCounts:
    """The wire's `taskCounts` object as the job record's counts (unknown keys ignored, missing ones 0)."""
    return TaskCounts(**{name: int(data.get(name, 0)) for name in _COUNT_FIELDS})


def pool_ref(services: Services, spec: JobSpec, record: JobRecord | None) -> wire.PoolRef:
    """The job's pool as it starts: its record's (a `PATCH` may have moved it), else its spec's; the pool's size
    (the `default` pool's from the settings while no `PUT` set it) and the job's priority (a `PATCH`'s, else its
    spec's). A pool deleted between the submit and the start (a delete is refused while the pool has jobs, but
    a job not started yet is not one of them) keeps the size its entity last had, or gets the default pool's
    size: the job runs rather than waits for ever."""
    pool_id = record.pool_id if record is not None and record.pool_id else spec.pool_id
    defined = services.pools.get(pool_id) or undefined_pool(pool_id, services.settings.default_pool_slots)
    priority = record.priority if record is not None and record.priority is not None else spec.priority
    return defined.ref(priority, (record.priority_version or 0) if record is not None else 0)


def ended_before_start(services: Services, job_id: str, run: int) -> wire.EndedBeforeStart | None:
    """The job's end, when it ended before its orchestration started: deleted (a `DELETE` between the submit's
    record and its start; the spec the submit wrote after the delete's sweep goes too) or cancelled (its
    record says so for this run). None when it is to run."""
    known = services.jobs.get_job(job_id)
    if known is None:
        services.results.delete_job(job_id)
        return {"ended": JobState.CANCELLED.value, "reason": "deleted before it started", "taskCounts": {}}
    if (known.run or 1) == run and JOB_STATE_RANK[known.state] >= JOB_STATE_RANK[JobState.SUCCEEDED]:
        reason = known.reason or f"{known.state.value} before it started"
        return {"ended": known.state.value, "reason": reason, "taskCounts": known.task_counts.to_json()}
    return None


def prepare_job(
    services: Services, specs: SpecCache, data: wire.PrepareJobInput
) -> wire.PreparedJob | wire.EndedBeforeStart:
    """Read and check the job's spec, plan it, write its task records, mark the job `running`; return the
    plan by counts only (or how the job ended, if it did before it started: `ended_before_start`).

    The job record's write follows the store's no-downgrade rule: a job already cancelling or ended stays
    so (its orchestrator learns of the cancel by its event). Fields left None keep their stored values.
    """
    job_id, spec_hash = data["jobId"], data["specHash"]
    ended = ended_before_start(services, job_id, 1)
    if ended is not None:
        return ended
    cached = specs.get(job_id, spec_hash)
    spec = cached.spec
    plan = cached.plan(data["partitionSize"])
    started = parse_time(data["startedAt"]) or datetime.now(UTC)
    total = len(spec.tasks)
    # Every task gets its record now (pending), a chunk row per 500 tasks, so the task list shows them all.
    layout = f"{spec_hash}:{plan.partition_size}"
    services.tasks.create_job(job_id, layout, chunk_layout(cached, plan.partition_size), total)
    # The settings the job API may change later start as the spec's; a change made meanwhile is kept.
    known = services.jobs.get_job(job_id)
    changed = known is not None and known.max_parallel_tasks is not None
    services.jobs.upsert_job(
        JobRecord(
            job_id=job_id,
            state=known.state if changed and known is not None else JobState.RUNNING,
            created=started,  # used only if the record does not exist yet: the creation time never changes
            start_time=started,
            task_counts=TaskCounts(total=total, pending=total),
            spec_hash=spec_hash,
            max_parallel_tasks=None if changed else spec.max_parallel_tasks,
            tolerated_failure_percentage=None if changed else spec.tolerated_failure_percentage,
        )
    )
    prepared: wire.PreparedJob = {
        "totalTasks": total,
        "partitionSizes": [p.size for p in plan.partitions],
        "partitionSize": plan.partition_size,
        "maxParallelTasks": spec.max_parallel_tasks,
        "maxWallClockSeconds": spec.max_wall_clock_seconds,
        "onTaskFailure": spec.on_task_failure.value,
        "toleratedFailurePercentage": spec.tolerated_failure_percentage,
        "hasReduce": spec.reduce is not None,
        "pool": pool_ref(services, spec, known),
    }
    shared = shared_plan(services, cached)
    if shared is not None:
        prepared["partitionPlan"] = shared
    return prepared


def prepare_rerun(
    services: Services, specs: SpecCache, data: wire.PrepareRerunInput
) -> wire.PreparedRerun | wire.EndedBeforeStart:
    """Start a re-run (`durable_batch.batch.runs`): every task that did not succeed goes back to pending as the run's
    (`TaskStore.reopen`), and the record says running. The plan is the job's as it first ran; the settings
    are those in effect when it ended (a `PATCH` made then still holds). Repeating it changes nothing more."""
    job_id, spec_hash, run = data["jobId"], data["specHash"], data["run"]
    ended = ended_before_start(services, job_id, run)
    if ended is not None:
        return ended
    cached = specs.get(job_id, spec_hash)
    spec = cached.spec
    plan = cached.plan(data["partitionSize"])
    reopened, kept = services.tasks.reopen(job_id, run)
    known = services.jobs.get_job(job_id)
    started = parse_time(data["startedAt"]) or datetime.now(UTC)
    cap = known.max_parallel_tasks if known is not None and known.max_parallel_tasks else spec.max_parallel_tasks
    tolerated = spec.tolerated_failure_percentage
    if known is not None and known.tolerated_failure_percentage is not None:
        tolerated = known.tolerated_failure_percentage
    if known is not None:
        # Within the run, the no-downgrade rule keeps a cancel requested meanwhile.
        services.jobs.upsert_job(
            JobRecord(
                job_id=job_id,
                state=JobState.RUNNING,
                created=known.created,
                start_time=started,
                task_counts=known.task_counts,
                run=run,
            )
        )
    return {
        "totalTasks": len(spec.tasks),
        "partitionSizes": [p.size for p in plan.partitions],
        "partitionSize": plan.partition_size,
        "maxParallelTasks": cap,
        "maxWallClockSeconds": spec.max_wall_clock_seconds,
        "onTaskFailure": spec.on_task_failure.value,
        "toleratedFailurePercentage": tolerated,
        "hasReduce": spec.reduce is not None,
        "pool": pool_ref(services, spec, known),
        "rerunPartitions": reopened,
        "keptCounts": kept.to_json(),
    }


def finish_job(services: Services, data: wire.FinishJobInput) -> wire.FinishedJob:
    """Write `{jobId}/summary.json` (the input, plus where the results are) and the job's final record.

    Returns the summary's blob name and what the job's output takes from it (`wire.FinishedJob`). Both writes
    have fixed names and values, so a retry repeats them.
    """
    job_id = data["jobId"]
    results = services.results
    prefix = results.job_prefix(job_id)
    reduce = data.get("reduce")
    summary: dict[str, Any] = {
        **data,
        "results": {
            "container": results.container_name,
            "prefix": prefix,
            "url": results.url(prefix),
            "taskResults": f"{prefix}results/",
            "reduce": results.reduce_name(job_id) if reduce and reduce.get("ok") else None,
        },
    }
    name = results.write_summary(job_id, summary)
    started = parse_time(data["startedAt"])
    ended = parse_time(data["endedAt"])
    services.jobs.upsert_job(
        JobRecord(
            job_id=job_id,
            state=JobState(data["state"]),
            created=started or ended or datetime.now(UTC),
            start_time=started,
            end_time=ended,
            task_counts=task_counts(data["taskCounts"]),
            reason=data["reason"],
            run=data.get("run", 1),
        )
    )
    telemetry.job_finished(
        job_id=job_id,
        state=data["state"],
        task_counts=dict(data["taskCounts"]),
        duration_ms=round((ended - started).total_seconds() * 1000) if started and ended else None,
    )
    finished: wire.FinishedJob = {"summaryBlob": name, "endedAt": data["endedAt"]}
    if "cost" in data:
        finished["cost"] = data["cost"]
    return finished
