"""The command-task glue: when a job record stops a command, the cancel watcher, and failure texts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from durable_batch.activities.command_runner import CommandResult
from durable_batch.activities.command_tasks import CancelPoll, command_error
from durable_batch.batch.job_stop import should_stop
from durable_batch.lib.azure_storage.errors import StorageUnreachable
from durable_batch.storage.jobs import JobRecord, JobState

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def record(state: JobState, spec_hash: str | None = "h1") -> JobRecord:
    return JobRecord(job_id="job", state=state, created=NOW, spec_hash=spec_hash)


@pytest.mark.parametrize(
    ("state", "stop"),
    [
        (JobState.PENDING, False),
        (JobState.RUNNING, False),
        (JobState.CANCELLING, True),
        (JobState.CANCELLED, True),
        (JobState.FAILED, True),
        (JobState.SUCCEEDED, True),
    ],
)
def test_which_job_states_stop_a_command(state: JobState, stop: bool) -> None:
    assert should_stop(record(state), "h1") is stop


def test_a_resubmitted_job_stops_the_old_runs_commands() -> None:
    assert should_stop(record(JobState.RUNNING, "h2"), "h1")
    assert not should_stop(record(JobState.RUNNING, None), "h1")
    assert not should_stop(None, "h1")


class Jobs:
    """Answers get_job from a list of scripted answers (the last one repeats)."""

    def __init__(self, answers: list[JobRecord | Exception]) -> None:
        self.answers = answers
        self.reads = 0
        self.read = threading.Event()

    def get_job(self, job_id: str) -> JobRecord | None:
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        self.read.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_poll_says_stop_after_a_failed_read_and_a_cancel_request() -> None:
    jobs = Jobs([record(JobState.RUNNING), StorageUnreachable("down"), record(JobState.CANCELLING)])
    clock = Clock()
    poll = CancelPoll(jobs, "job", "h1", poll_seconds=1.0, clock=clock)
    seen = []
    for _ in range(3):
        clock.now += 1.0
        seen.append(poll.is_set())
    assert seen == [False, False, True] and jobs.reads == 3
    clock.now += 5.0
    assert poll.is_set() and jobs.reads == 3  # stopped for good: no more reads


def test_the_poll_reads_at_most_once_a_poll_and_a_running_job_does_not_stop() -> None:
    jobs = Jobs([record(JobState.RUNNING)])
    clock = Clock()
    poll = CancelPoll(jobs, "job", "h1", poll_seconds=1.0, clock=clock)
    for _ in range(50):  # asked every 50 ms for two and a half seconds, as a run's wait asks it
        clock.now += 0.05
        assert not poll.is_set()
    assert jobs.reads == 2


def test_a_command_shorter_than_a_poll_costs_no_read() -> None:
    jobs = Jobs([record(JobState.CANCELLING)])
    clock = Clock()
    poll = CancelPoll(jobs, "job", "h1", poll_seconds=5, clock=clock)
    clock.now += 4.9
    assert not poll.is_set()
    assert jobs.reads == 0


def result(exit_code: int | None, **fields: object) -> CommandResult:
    base: dict[str, object] = {
        "timed_out": False,
        "cancelled": False,
        "stdout_tail": "",
        "stderr_tail": "",
        "output_files": [],
        "duration_seconds": 0.1,
    }
    base.update(fields)
    return CommandResult(exit_code, **base)  # type: ignore[arg-type]


def test_failure_texts() -> None:
    assert command_error(result(0)) is None
    assert command_error(result(2)) == "exit code 2"
    assert command_error(result(1, stderr_tail="x" * 1000 + "\nNo such file\n")).endswith("No such file")  # type: ignore[union-attr]
    assert command_error(result(-9)) == "the command was killed by signal 9"
    assert (
        command_error(result(-15, timed_out=True, error="time limit of 1 s exceeded")) == "time limit of 1 s exceeded"
    )
    assert command_error(result(None, error="command not found: 'nope'")) == "command not found: 'nope'"
