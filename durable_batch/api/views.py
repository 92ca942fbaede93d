"""The JSON the API answers with: a job's view and its entry in a list (from its status, derived in
`durable_batch.operations.status`), a task in a list, a page, and where a job's results are.

Pure functions of plain values, but for the results' location, which names the files routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable_batch.api.files import files_url
from durable_batch.app.services import Services
from durable_batch.batch.runs import runs_view
from durable_batch.batch.spec import DEFAULT_PRIORITY
from durable_batch.batch.states import JobState
from durable_batch.batch.times import iso
from durable_batch.operations.status import JobFacts, JobStatus, derive_status, job_phase, latest_run
from durable_batch.storage.jobs import JobRecord
from durable_batch.storage.tasks import TaskRecord


@dataclass(frozen=True)
class Links:
    """Where a job's resources are: `api_root` is the absolute URL of the API (`https://host/api`)."""

    api_root: str
    results_url: str

    def for_job(self, job_id: str) -> dict[str, str]:
        base = f"{self.api_root}/jobs/{job_id}"
        return {"self": base, "tasks": f"{base}/tasks", "cancel": f"{base}/cancel", "results": self.results_url}


@dataclass(frozen=True)
class ResultsLocation:
    """The job's folder in Blob Storage."""

    container: str
    prefix: str
    url: str

    def to_json(self, summary_blob: str | None) -> dict[str, Any]:
        return {
            "container": self.container,
            "prefix": self.prefix,
            "url": self.url,
            "specBlob": f"{self.prefix}job.json",
            "summaryBlob": summary_blob,
        }


def results_location(services: Services, api_root: str, job_id: str) -> ResultsLocation:
    """The job's folder; its `url` lists the folder through the files routes, which take the API's keys (the
    container's own URL would answer 403 without the account's credentials)."""
    results = services.results
    prefix = results.job_prefix(job_id)
    return ResultsLocation(results.container_name, prefix, files_url(api_root, results.container_name, prefix=prefix))


def links_for(services: Services, api_root: str, job_id: str) -> Links:
    return Links(api_root, results_location(services, api_root, job_id).url)


def job_view(facts: JobFacts, links: Links, results: ResultsLocation) -> dict[str, Any]:
    """The answer of `GET /api/jobs/{id}`: `failedTasks` and `reduce` appear once the job has ended normally."""
    status = derive_status(facts)
    view = _job_fields(facts, status)
    record = facts.record
    if record.max_parallel_tasks is not None:
        # The settings as in effect: the spec's, or the last PATCH's.
        view["maxParallelTasks"] = record.max_parallel_tasks
        view["toleratedFailurePercentage"] = record.tolerated_failure_percentage
    if status.state == JobState.DISABLED.value:
        view["disableTasks"] = record.disable_tasks or "wait"
    if status.failed_tasks is not None:
        view["failedTasks"] = status.failed_tasks
        view["reduce"] = status.reduce
    # Each run of the job (`durable_batch.batch.runs`); the state and counts above are the whole job's after the latest.
    view["runs"] = runs_view(record.runs or (), iso(record.created), latest_run(status))
    view["cost"] = status.cost.to_json() if status.cost is not None else None
    view["results"] = results.to_json(status.summary_blob)
    view["links"] = links.for_job(facts.job_id)
    return view


def job_summary(record: JobRecord, links: Links, facts: JobFacts | None = None) -> dict[str, Any]:
    """A job in a list: the same state, phase and counts as its view (`job_view`), from `facts` when given (an
    unfinished job's orchestration status), else from its record alone (exact for a finished job)."""
    facts = facts if facts is not None else JobFacts(record.job_id, record)
    return {**_job_fields(facts, derive_status(facts)), "links": {"self": links.for_job(record.job_id)["self"]}}


def _job_fields(facts: JobFacts, status: JobStatus) -> dict[str, Any]:
    """What a job's view and its entry in the job list both show, from the same facts."""
    return {
        "id": facts.job_id,
        "state": status.state,
        "phase": job_phase(facts, status),
        "cancelRequested": status.cancel_requested,
        "taskCounts": status.counts.to_json(),
        "createdAt": iso(facts.record.created),
        "startedAt": status.started_at,
        "endedAt": status.ended_at,
        "reason": status.reason,
        "poolInfo": {"poolId": facts.record.pool},
        "priority": facts.record.priority if facts.record.priority is not None else DEFAULT_PRIORITY,
    }


def task_view(record: TaskRecord) -> dict[str, Any]:
    """A task in a list."""
    return {
        "id": record.task_id,
        "state": record.state.value,
        "attempts": record.attempts,
        "error": record.error,
        "startedAt": iso(record.start_time),
        "endedAt": iso(record.end_time),
        "partition": record.partition,
    }


def page(items: list[dict[str, Any]], token: str | None, next_link: str | None) -> dict[str, Any]:
    """A page of a list: `value`, and the token and URL of the next page (None on the last page)."""
    return {"value": items, "continuationToken": token, "nextLink": next_link}
