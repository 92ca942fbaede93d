"""A job run from an app's own orchestration: `outcome = yield from run_job(context, spec)`.

For pipelines of jobs (an ETL job, then the billing job that reads its output) and for a job among other
durable work. The job is an ordinary job, submitted through the same checks as `POST /api/jobs` and seen in
the API, CLI and dashboard like any other; the orchestration follows it:

1. it names a job sent without an id, replay-safely (`job-{orchestration time}-{the orchestration's next
   deterministic uuid}`), so a replay or a retried submit finds the same job instead of starting a second one;
2. it submits the spec through an activity (`batch_submit_job`). A refused spec raises `JobError` in the
   orchestration, with the API's error code, message and details;
3. it waits on durable timers, reading the job's state through an activity (`batch_job_outcome`) after
   each: 2 s, then doubling up to `poll_seconds`. Waiting costs two history events and one small activity a
   poll, nothing between polls: a Consumption app may scale to zero while the job runs.

It returns the job's `wire.JobOutcome` once the job has finished: succeeded, failed or cancelled, with its
counts, failed tasks, reduce output and results' place. A job that did not succeed is an outcome, not an
error: what it means for the pipeline is the caller's decision. A job deleted while it was waited for raises
`JobError`. Ending the orchestration (terminate) leaves its job running; cancel the job through the API.

The spec travels through the orchestration's history (the submit's input): a large job belongs in a task
factory (a JSON Lines blob, a parameter sweep), not in thousands of inline tasks.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.batch.spec import new_job_id

__all__ = ["FIRST_POLL_SECONDS", "JobError", "run_job"]

FIRST_POLL_SECONDS = 2.0
_SUBMIT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=6)
"""The two activities touch storage: a passing outage must not fail the orchestration that waits."""


class JobError(Exception):
    """A job an orchestration asked for that was refused, or that went away while it was waited for. `code`,
    `message` and `details` are those of the API's error for it (`invalidJobSpec`, `jobExists`, `jobNotFound`...)."""

    def __init__(self, job_id: str, problem: wire.JobProblem) -> None:
        # The message names the first problem already (the API's messages do); the others are added, a few.
        listed = [f"{item.get('path')}: {item.get('message')}" for item in problem["details"]]
        others = [text for text in listed if text not in problem["message"]][:5]
        super().__init__(f"job {job_id!r}: {problem['message']}" + (f" ({'; '.join(others)})" if others else ""))
        self.job_id = job_id
        self.code = problem["code"]
        self.message = problem["message"]
        self.details = problem["details"]


def run_job(
    context: df.DurableOrchestrationContext, spec: Mapping[str, Any], poll_seconds: float = 30.0
) -> Generator[Any, Any, wire.JobOutcome]:
    """Submit `spec` as a job and wait until it has finished; see the module. Use with `yield from` in an
    orchestrator function. `poll_seconds` is the longest wait between two reads of the job's state."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"run_job: the job spec must be a JSON object (a mapping), not {type(spec).__name__}")
    if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, int | float) or not poll_seconds > 0:
        raise ValueError(f"run_job: poll_seconds must be a number of seconds above 0, not {poll_seconds!r}")
    if not math.isfinite(poll_seconds):
        raise ValueError("run_job: poll_seconds must be finite")
    body = dict(spec)
    if "id" not in body:
        body["id"] = new_job_id(context.current_utc_datetime, str(context.new_uuid()).replace("-", "")[:8])
    submit: wire.SubmitJobInput = {"spec": body}
    submitted: wire.SubmittedJob = yield context.call_activity_with_retry(wire.SUBMIT_JOB, _SUBMIT_RETRY, submit)
    job_id = submitted["jobId"]
    if "problem" in submitted:
        raise JobError(job_id, submitted["problem"])
    wait = min(FIRST_POLL_SECONDS, poll_seconds)
    while True:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
        seen: wire.JobOutcome | wire.MissingJob = yield context.call_activity_with_retry(
            wire.JOB_OUTCOME, _SUBMIT_RETRY, job_id
        )
        if "problem" in seen:
            raise JobError(job_id, cast(wire.MissingJob, seen)["problem"])
        if seen["finished"]:
            return seen
        wait = min(wait * 2, poll_seconds)
