"""Errors the activities raise on purpose. A task's own failure is never raised: it is returned in its
`TaskOutcome`. These are for runs that cannot go on at all (a missing or replaced job spec, inputs that do
not match the job), which the orchestrator then sees as a failed activity."""

from __future__ import annotations

from durable_batch.batch.errors import BatchError


class ActivityError(BatchError):
    """Root of the errors the activities raise on purpose."""


class JobSpecMissing(ActivityError):
    """The job's spec blob (`job.json` in its folder) does not exist: the job was deleted, or never submitted."""


class JobSpecMismatch(ActivityError):
    """The stored spec is not the one this run was started for: the job was deleted and submitted again
    with another spec while an old run was still going. The old run must stop; it cannot be resumed."""


class WrongTask(ActivityError):
    """An activity input names a task or partition that the job does not have at that position."""
