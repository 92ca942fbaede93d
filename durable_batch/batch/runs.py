"""A job's runs: the first, and each re-run of its tasks that did not succeed (`POST /api/jobs/{id}/rerun`).

Run 1 is the job as submitted. A re-run (run 2, 3, ...) of a finished job runs again only its failed,
skipped and cancelled tasks, under the same job id; its succeeded tasks and their results stay
(`durable_batch.batch.records` keeps them). The job's record holds the run in progress (`run`) and the list of runs
(`runs`), each as the API shows it: `{number, requestedAt, startedAt, endedAt, reason, state, taskCounts}`.
A run's `taskCounts` are those of the tasks it ran (the whole job for run 1, the re-run tasks for a re-run);
the job's own state and counts are the whole job's after its latest run. Entries of earlier runs are kept as
they were when the next run was requested; the latest one is read from the job's live status.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from durable_batch.batch.errors import BatchError
from durable_batch.batch.states import TaskCounts

__all__ = ["MAX_RERUNS", "LatestRun", "RerunRefused", "check_rerun", "next_runs", "run_counts", "runs_view"]

MAX_RERUNS = 10
"""Re-runs a job may have (so 11 runs in all): a job that still fails after that needs a fix, not a retry."""


class RerunRefused(BatchError):
    """Why a job cannot be re-run now: `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LatestRun:
    """The job's status as it is now, which the latest run's entry shows."""

    state: str
    counts: TaskCounts
    started_at: str | None
    ended_at: str | None
    finished: bool


def check_rerun(job_id: str, latest: LatestRun, run: int) -> None:
    """Raise `RerunRefused` unless the job (now in its run `run`) may be re-run."""
    if not latest.finished:
        raise RerunRefused(
            "jobRunning", f"job {job_id!r} has not finished ({latest.state}); re-run it once it has ended"
        )
    if latest.counts.succeeded >= latest.counts.total:
        raise RerunRefused("nothingToRerun", f"every task of job {job_id!r} succeeded; there is nothing to re-run")
    if run > MAX_RERUNS:
        raise RerunRefused(
            "rerunLimit", f"job {job_id!r} was re-run {run - 1} times, the most a job may be (MAX_RERUNS)"
        )


def run_counts(whole: TaskCounts, kept: int) -> TaskCounts:
    """The counts of a run's tasks: the whole job's, less the `kept` tasks that had succeeded before it."""
    kept = max(0, min(kept, whole.succeeded))
    return TaskCounts(
        whole.total - kept,
        whole.pending,
        whole.running,
        whole.succeeded - kept,
        whole.failed,
        whole.skipped,
        whole.cancelled,
    )


def _first_run(requested_at: str | None) -> dict[str, Any]:
    return {"number": 1, "requestedAt": requested_at, "reason": None, "kept": 0}


def _shown(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": entry["number"],
        "requestedAt": entry.get("requestedAt"),
        "startedAt": entry.get("startedAt"),
        "endedAt": entry.get("endedAt"),
        "reason": entry.get("reason"),
        "state": entry.get("state"),
        "taskCounts": TaskCounts.from_json(entry.get("taskCounts")).to_json(),
    }


def _with_latest(entry: Mapping[str, Any], latest: LatestRun) -> dict[str, Any]:
    return {
        **entry,
        "startedAt": latest.started_at,
        "endedAt": latest.ended_at,
        "state": latest.state,
        "taskCounts": run_counts(latest.counts, int(entry.get("kept") or 0)).to_json(),
    }


def next_runs(
    stored: Sequence[Mapping[str, Any]],
    created_at: str | None,
    latest: LatestRun,
    requested_at: str,
    reason: str | None,
) -> list[dict[str, Any]]:
    """The runs to store when a re-run is requested: the latest run's entry frozen as it ended, and the new
    run's (`kept`: the tasks that succeeded before it, which it does not run)."""
    runs = [dict(entry) for entry in stored] or [_first_run(created_at)]
    runs[-1] = _with_latest(runs[-1], latest)
    new = {"number": len(runs) + 1, "requestedAt": requested_at, "reason": reason, "kept": latest.counts.succeeded}
    return [*runs, new]


def runs_view(stored: Sequence[Mapping[str, Any]], created_at: str | None, latest: LatestRun) -> list[dict[str, Any]]:
    """The job view's `runs`, oldest first; the latest from the job's status now."""
    runs = [dict(entry) for entry in stored] or [_first_run(created_at)]
    runs[-1] = _with_latest(runs[-1], latest)
    return [_shown(entry) for entry in runs]
