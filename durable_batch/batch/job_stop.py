"""When a job's running work must stop, and when it may start more, judged by the job's record: the rules a
batch applies before each task and a command's watcher applies while it runs."""

from __future__ import annotations

from typing import Protocol

from durable_batch.batch.states import JobState

__all__ = ["JobStanding", "is_requeue", "may_start", "should_stop"]

_STOP_STATES = frozenset({JobState.CANCELLING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class JobStanding(Protocol):
    """What the rules read of a job's record (`durable_batch.storage.jobs.JobRecord` has it)."""

    @property
    def state(self) -> JobState: ...

    @property
    def spec_hash(self) -> str | None: ...

    @property
    def disable_tasks(self) -> str | None: ...


def should_stop(record: JobStanding | None, spec_hash: str) -> bool:
    """Whether a running task of this job must be stopped, judging by the job's record.

    Yes when a cancel was requested (`cancelling`), when the job has ended (a running command of an ended
    job was abandoned by its orchestrator: cancelled, or past the job's wall clock), when the job was
    disabled with `requeue` (its command goes back to pending), or when the record is of another spec (the
    job was re-submitted). A missing record is not a reason: records may lag the run.
    """
    if record is None:
        return False
    if record.state in _STOP_STATES or is_requeue(record):
        return True
    return record.spec_hash is not None and record.spec_hash != spec_hash


def is_requeue(record: JobStanding | None) -> bool:
    """Whether the job is disabled with `requeue`: its running tasks are stopped and put back to pending."""
    return record is not None and record.state == JobState.DISABLED and record.disable_tasks == "requeue"


def may_start(record: JobStanding | None, spec_hash: str) -> bool:
    """Whether a batch may start its next task: not while the job is disabled, nor once it must stop."""
    if record is None:
        return True
    return record.state != JobState.DISABLED and not should_stop(record, spec_hash)
