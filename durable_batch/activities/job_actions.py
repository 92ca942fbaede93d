"""DISABLE_JOB: a task's exit condition said `jobAction: disable`, so its job is disabled as
`POST /api/jobs/{id}/disable` with `disableTasks: requeue` disables it (Azure Batch's meaning of the action):
no task starts, running commands are stopped and put back to pending, and the job waits for an enable.

It goes through the job API's own operation (`durable_batch.operations.changes.disable_job`), so a disable has one rule
wherever it comes from. A job that is disabled already, being cancelled or finished needs nothing more: that is an
answer, not a failure. Storage and durable-client errors propagate, so the partition's retry policy retries.
"""

from __future__ import annotations

from typing import Any

from durable_batch.activities import telemetry
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.operations.changes import disable_job
from durable_batch.operations.errors import Conflict, JobNotFound

__all__ = ["disable_for_exit"]


async def disable_for_exit(client: Any, services: Services, data: wire.DisableJobInput) -> str:
    """Disable the job with `requeue`; `wire.DISABLED_NOW`, or the code of the state that made it needless."""
    job_id = data["jobId"]
    try:
        await disable_job(client, services, job_id, "requeue")
    except (Conflict, JobNotFound) as exc:
        return exc.code
    telemetry.job_disabled(job_id=job_id, partition=data["partition"])
    return wire.DISABLED_NOW
