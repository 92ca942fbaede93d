"""The log records a job's activities write carry its ids as structured fields (`extra`), which the
OpenTelemetry export turns into Application Insights `customDimensions`: run through the activities on each
store, and read off the records themselves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from durable_batch.activities.batches import run_batch
from durable_batch.activities.jobs import finish_job, prepare_job
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch.spec import JobSpec, TaskSpec
from tests.e2e.activities.conftest import Submit

pytestmark = pytest.mark.e2e


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


def test_each_attempt_is_a_record_with_the_job_task_partition_batch_and_duration(
    services: Services, specs: SpecCache, job_id: str, submit: Submit, caplog: pytest.LogCaptureFixture
) -> None:
    spec = JobSpec(
        id=job_id,
        tasks=(
            TaskSpec(id="ok-1", handler="e2e.square", input={"n": 3}),
            TaskSpec(id="bad-1", handler="e2e.square", input={"n": 4, "fail": True}),
        ),
        max_task_retry_count=1,
        retry_interval_seconds=0,  # retried at once, in the same batch: two attempts of bad-1 here
    )
    spec_hash = submit(services, spec)
    started = datetime.now(UTC).isoformat()
    prepare_job(services, specs, {"jobId": job_id, "specHash": spec_hash, "partitionSize": 100, "startedAt": started})
    caplog.set_level(logging.INFO, logger="durable_batch")
    request = {
        "jobId": job_id,
        "specHash": spec_hash,
        "partition": 0,
        "partitionSize": 100,
        "batch": 5,
        "tasks": [[0, 2, 1]],
        "concurrency": 1,
        "markRunning": False,
    }
    run_batch(services, specs, request)  # type: ignore[arg-type]

    attempts = [
        (r.taskId, r.attempt, r.outcome, r.final, r.levelname)  # type: ignore[attr-defined]
        for r in records(caplog, "durable_batch.tasks")
    ]
    assert attempts == [
        ("ok-1", 1, "succeeded", True, "INFO"),
        ("bad-1", 1, "failed", False, "WARNING"),
        ("bad-1", 2, "failed", True, "WARNING"),
    ]
    for record in records(caplog, "durable_batch.tasks"):
        fields = record.__dict__
        assert (fields["jobId"], fields["partition"], fields["batch"], fields["taskKind"]) == (job_id, 0, 5, "handler")
        assert isinstance(fields["durationMs"], int) and fields["durationMs"] >= 0
        assert job_id in record.getMessage() and fields["taskId"] in record.getMessage()
    failed = records(caplog, "durable_batch.tasks")[-1]
    assert "refuses 4" in failed.error  # type: ignore[attr-defined]

    finish_job(
        services,
        {
            "jobId": job_id,
            "state": "failed",
            "reason": "1 of 2 tasks failed",
            "taskCounts": {"total": 2, "pending": 0, "running": 0, "succeeded": 1, "failed": 1, "skipped": 0},
            "failedTasks": ["bad-1"],
            "reduce": None,
            "startedAt": started,
            "endedAt": datetime.now(UTC).isoformat(),
        },
    )
    [job] = records(caplog, "durable_batch.jobs")
    assert (job.jobId, job.jobState, job.tasksFailed, job.tasksSucceeded) == (job_id, "failed", 1, 1)  # type: ignore[attr-defined]
    assert isinstance(job.durationMs, int)  # type: ignore[attr-defined]
