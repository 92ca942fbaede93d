"""The states a job and its tasks go through, and the task counts the API reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    """A job's states, as its record holds them. The API shows all but `CANCELLING` (see `API_JOB_STATES`)."""

    PENDING = "pending"
    RUNNING = "running"
    DISABLED = "disabled"
    """Running, but disabled (`POST .../disable`): no task starts until it is enabled again."""
    CANCELLING = "cancelling"
    """A cancel was requested (by the job API) and the job has not ended yet: activities poll for it to kill
    the job's commands. The API shows such a job as `running`, with its cancel requested."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


API_JOB_STATES = tuple(state for state in JobState if state is not JobState.CANCELLING)
"""The states a job's answer in the API can have."""

JOB_STATE_RANK: Mapping[JobState, int] = {
    JobState.PENDING: 0,
    JobState.RUNNING: 1,
    JobState.DISABLED: 1,
    JobState.CANCELLING: 2,
    JobState.SUCCEEDED: 3,
    JobState.FAILED: 3,
    JobState.CANCELLED: 3,
}
"""The job record's no-downgrade rule: a write whose state ranks below the stored one is skipped (within one
run; see `job_write_applies`)."""


def job_write_applies(stored_run: int, stored: JobState, run: int, state: JobState) -> bool:
    """Whether a write of the job's record (of its run `run`, in `state`) applies over the stored one: a write
    of a later run always does (a re-run starts the job over, `durable_batch.batch.runs`), one of an earlier run never,
    and within a run a state never goes back (`JOB_STATE_RANK`)."""
    if run != stored_run:
        return run > stored_run
    return JOB_STATE_RANK[state] >= JOB_STATE_RANK[stored]


ACTIVE_JOB_STATES = tuple(state for state in JobState if JOB_STATE_RANK[state] < JOB_STATE_RANK[JobState.SUCCEEDED])
"""The states of a job that has not ended (a disabled job among them)."""


class TaskState(StrEnum):
    PENDING = "pending"
    """Not started yet: waiting for dependencies, or for a free slot under `maxParallelTasks`."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Failed on its last attempt (after retries)."""
    SKIPPED = "skipped"
    """Never ran: a dependency failed or was skipped, the job was cancelled, or it stopped early."""
    CANCELLED = "cancelled"
    """Was running (or waiting for a retry) when its job was cancelled, and was stopped: not a failure."""


COUNT_FIELDS = ("total", "pending", "running", "succeeded", "failed", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """A job's (or a partition's) tasks by state; the fields always add up to `total`."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0

    def __add__(self, other: TaskCounts) -> TaskCounts:
        """Counts of two partitions together."""
        return TaskCounts(
            self.total + other.total,
            self.pending + other.pending,
            self.running + other.running,
            self.succeeded + other.succeeded,
            self.failed + other.failed,
            self.skipped + other.skipped,
            self.cancelled + other.cancelled,
        )

    @classmethod
    def from_json(cls, value: object) -> TaskCounts:
        """Counts from a `taskCounts` object; a field that is missing or not a count reads as 0, so a status
        written by another version (or not a mapping at all) never breaks a reader."""
        source = value if isinstance(value, Mapping) else {}
        numbers = []
        for name in COUNT_FIELDS:
            item = source.get(name, 0)
            numbers.append(item if isinstance(item, int) and not isinstance(item, bool) and item >= 0 else 0)
        return cls(*numbers)

    def to_json(self) -> dict[str, int]:
        """The API's `taskCounts` object."""
        return {
            "total": self.total,
            "pending": self.pending,
            "running": self.running,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "cancelled": self.cancelled,
        }
