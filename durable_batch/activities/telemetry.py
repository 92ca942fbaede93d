"""Log records that say which job and task they are about, as structured fields, not only in their text.

Each field is a `logging` ``extra`` attribute: exported to Application Insights through OpenTelemetry
(`durable_batch.app.monitoring`), each becomes a column of ``customDimensions`` on the ``traces`` table, so a query
filters on ``customDimensions.jobId`` instead of parsing messages (the README's "Telemetry" section has
the queries). The names are the API's (``jobId``, ``taskId``), so one vocabulary serves both.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("durable_batch.tasks")
jobs_logger = logging.getLogger("durable_batch.jobs")

__all__ = ["attempt_ended", "job_disabled", "job_finished", "jobs_logger", "logger"]


def attempt_ended(
    *,
    job_id: str,
    task_id: str,
    partition: int,
    batch: int,
    attempt: int,
    outcome: str,
    final: bool,
    duration_ms: int,
    kind: str,
    error: str | None = None,
) -> None:
    """One task attempt ended: `outcome` is succeeded, failed, timedOut or cancelled; `final` when no attempt
    follows it (it succeeded, or its retries are used up)."""
    fields: dict[str, Any] = {
        "jobId": job_id,
        "taskId": task_id,
        "partition": partition,
        "batch": batch,
        "attempt": attempt,
        "outcome": outcome,
        "final": final,
        "durationMs": duration_ms,
        "taskKind": kind,
    }
    if error is not None:
        fields["error"] = error
    level = logging.INFO if outcome == "succeeded" else logging.WARNING
    logger.log(
        level,
        "job %s task %s attempt %d %s in %d ms%s",
        job_id,
        task_id,
        attempt,
        outcome,
        duration_ms,
        f": {error}" if error else "",
        extra=fields,
    )


def job_finished(*, job_id: str, state: str, task_counts: dict[str, int], duration_ms: int | None) -> None:
    """A job ended (its summary is written): its state, its tasks' counts (as `tasksSucceeded`, `tasksFailed`,
    ...) and how long it ran. A retried FINISH_JOB logs it again, with the same fields."""
    counts = {f"tasks{name[:1].upper()}{name[1:]}": count for name, count in task_counts.items()}
    jobs_logger.info(
        "job %s %s (%s)",
        job_id,
        state,
        ", ".join(f"{count} {name}" for name, count in task_counts.items()),
        extra={"jobId": job_id, "jobState": state, "durationMs": duration_ms, **counts},
    )


def job_disabled(*, job_id: str, partition: int) -> None:
    """A task's exit condition (`jobAction: disable`) disabled its job; `partition` ran the task."""
    jobs_logger.info(
        "job %s disabled by a task's exit condition (jobAction disable, partition %d); enable it to go on",
        job_id,
        partition,
        extra={"jobId": job_id, "jobState": "disabled", "partition": partition},
    )
