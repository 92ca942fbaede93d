"""Jobs run from an app's own orchestration (`durable_batch.run_job`): its two activities' bodies.

- `submit_for_orchestration`: the same submit as `POST /api/jobs` (`submit_body`), so the job is checked,
  recorded and started alike, and a submit run again (the activity retried, the orchestration replayed past a
  lost completion) finds its job by id and starts nothing. A refused spec is an answer, not an error: the
  orchestration raises it where the user's code can catch it, instead of the activity being retried for it.
- `job_outcome`: the job's state, counts and failed tasks as its view in the API has them (the same
  `load_job` and `derive_status`), where its results are, and its reduce output itself: an orchestration
  cannot read a blob, and the view holds only a small output inline. The output goes into the orchestration's
  history, so only up to `OUTCOME_REDUCE_LIMIT` bytes of it; a larger one is named (`reduceBlob`) for an
  activity of the app's to read.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.operations.control import load_job
from durable_batch.operations.errors import OperationError
from durable_batch.operations.status import derive_status
from durable_batch.operations.submit import submit_body

__all__ = ["OUTCOME_REDUCE_LIMIT", "job_outcome", "submit_for_orchestration"]

OUTCOME_REDUCE_LIMIT = 256 * 1024
"""The largest reduce output (bytes of JSON) an outcome carries: a history event's worth, well under the Durable
payload sizes that go to blobs of their own (64 KiB queue messages are compressed and overflow to blobs)."""


def _problem(exc: OperationError) -> wire.JobProblem:
    return {"code": exc.code, "message": exc.message, "details": exc.details}


async def submit_for_orchestration(client: Any, services: Services, data: wire.SubmitJobInput) -> wire.SubmittedJob:
    """Submit the spec; its id is there already (run_job names a job sent without one, replay-safely)."""
    spec = data["spec"]
    job_id = str(spec.get("id")) if isinstance(spec, dict) else ""
    try:
        checked, submitted = await submit_body(client, services, spec, datetime.now(UTC))
    except OperationError as exc:
        return {"jobId": job_id, "problem": _problem(exc)}
    return {"jobId": checked.id, "created": submitted.created}


async def job_outcome(client: Any, services: Services, job_id: str) -> wire.JobOutcome | wire.MissingJob:
    """The job as the orchestration that waits for it sees it; a `problem` when there is no such job."""
    try:
        facts = await load_job(client, services, job_id)
    except OperationError as exc:
        return {"id": job_id, "problem": _problem(exc)}
    status = derive_status(facts)
    results = services.results
    output, blob = await asyncio.to_thread(_reduce_output, services, status.reduce)
    return {
        "id": job_id,
        "state": status.state,
        "finished": status.finished,
        "reason": status.reason,
        "taskCounts": status.counts.to_json(),
        "failedTasks": status.failed_tasks or [],
        "reduce": output,
        "reduceBlob": blob,
        "results": {
            "container": results.container_name,
            "prefix": results.job_prefix(job_id),
            "summaryBlob": status.summary_blob,
        },
    }


def _reduce_output(services: Services, reduce: Any) -> tuple[Any, str | None]:
    """The reduce output (None when there is none, it failed, or it is larger than the limit) and its blob."""
    if not isinstance(reduce, dict) or not reduce.get("ok"):
        return None, None
    blob = reduce.get("resultBlob") if isinstance(reduce.get("resultBlob"), str) else None
    if "result" in reduce or blob is None:
        return reduce.get("result"), blob
    if services.results.blobs.size(blob) > OUTCOME_REDUCE_LIMIT:
        return None, blob  # its size alone says so: not read (it may be up to the result limit, 16 MiB)
    data = services.results.read_blob(blob)
    return (json.loads(data) if len(data) <= OUTCOME_REDUCE_LIMIT else None), blob
