"""Re-running a finished job's tasks that did not succeed (`POST /api/jobs/{id}/rerun`, `durable_batch.batch.runs`).

The record is written first (the new run, pending, with the runs so far), then the job's orchestration is
started again under the same instance id with the run's number in its input. Until it starts, the job's view
reads the record alone (`durable_batch.operations.control.current_run`): the earlier run's instance says nothing of this
one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.changes import parse_rerun
from durable_batch.batch.errors import SpecError
from durable_batch.batch.runs import RerunRefused, check_rerun, next_runs
from durable_batch.batch.states import TaskCounts
from durable_batch.batch.times import iso
from durable_batch.operations.control import load_job
from durable_batch.operations.durable import get_instance
from durable_batch.operations.errors import Conflict, refused_body
from durable_batch.operations.status import derive_status, latest_run
from durable_batch.storage.jobs import JobState

__all__ = ["read_rerun", "rerun_job"]


def read_rerun(body: Any) -> str | None:
    """A `rerun` body's reason, or `InvalidRequest` saying what is wrong and where."""
    try:
        return parse_rerun(body)
    except SpecError as exc:
        raise refused_body(exc) from None


async def rerun_job(client: Any, services: Services, job_id: str, reason: str | None, now: datetime) -> None:
    """Start the next run of a finished job; `Conflict` (`jobRunning`, `nothingToRerun`, `rerunLimit`)."""
    facts = await load_job(client, services, job_id)
    record = facts.record
    latest = latest_run(derive_status(facts))
    run = record.run or 1
    partition_size = await asyncio.to_thread(services.tasks.partition_size, job_id)
    if run > 1 and record.state == JobState.PENDING and facts.instance is None and partition_size is not None:
        # A re-run recorded whose orchestration did not start (its request stopped half-way): start it now.
        await _start(client, job_id, record.spec_hash or "", partition_size, run)
        return
    active = facts.instance is not None and facts.instance.is_active
    try:
        check_rerun(job_id, dataclasses.replace(latest, finished=latest.finished and not active), run)
    except RerunRefused as exc:
        raise Conflict(str(exc), exc.code) from None
    if record.spec_hash is None or partition_size is None:
        # Cancelled before it started: none of its tasks has a record to run again.
        raise Conflict(f"job {job_id!r} never started; there is nothing to re-run", "nothingToRerun")
    counts = latest.counts
    runs = next_runs(record.runs or (), iso(record.created), latest, iso(now) or "", reason)
    await asyncio.to_thread(
        services.jobs.upsert_job,
        dataclasses.replace(
            record,
            state=JobState.PENDING,
            run=run + 1,
            runs=tuple(runs),
            task_counts=TaskCounts(counts.total, pending=counts.total - counts.succeeded, succeeded=counts.succeeded),
            start_time=None,
            end_time=None,
            reason=None,
            controls=None,
            disable_tasks=None,
        ),
    )
    await _start(client, job_id, record.spec_hash, partition_size, run + 1)


async def _start(client: Any, job_id: str, spec_hash: str, partition_size: int, run: int) -> None:
    job_input: wire.JobInput = {"jobId": job_id, "specHash": spec_hash, "partitionSize": partition_size, "run": run}
    try:
        await client.start_new(wire.JOB_ORCHESTRATOR, job_id, job_input)
    except Exception:
        # A re-run requested at the same moment started it first.
        instance = await get_instance(client, job_id, with_input=True)
        if instance is None or not instance.is_active:
            raise
        raise Conflict(f"job {job_id!r} is running again already", "jobRunning") from None
