"""The states a job and its tasks go through, and the task counts the API reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskState(StrEnum):
    PENDING = "pending"
    """Not started yet: waiting for dependencies, or for a free slot under `maxParallelTasks`."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Failed on its last attempt (after retries)."""
    SKIPPED = "skipped"
    """Never ran: a dependency failed or was skipped, the job was cancelled, or it stopped early."""


COUNT_FIELDS = ("total", "pending", "running", "succeeded", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """A job's (or a partition's) tasks by state; the fields always add up to `total`."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: TaskCounts) -> TaskCounts:
        """Counts of two partitions together."""
        return TaskCounts(
            self.total + other.total,
            self.pending + other.pending,
            self.running + other.running,
            self.succeeded + other.succeeded,
            self.failed + other.failed,
            self.skipped + other.skipped,
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
        }
