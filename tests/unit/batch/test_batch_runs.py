"""A job's runs: when a re-run is allowed, and the runs the record keeps and the view shows."""

from __future__ import annotations

import pytest

from durable_batch.batch.changes import MAX_RERUN_REASON, parse_rerun
from durable_batch.batch.errors import SpecError
from durable_batch.batch.runs import MAX_RERUNS, LatestRun, RerunRefused, check_rerun, next_runs, run_counts, runs_view
from durable_batch.batch.states import JobState, TaskCounts, job_write_applies

pytestmark = pytest.mark.unit


def latest(state: str = "failed", succeeded: int = 8, failed: int = 2, *, finished: bool = True) -> LatestRun:
    counts = TaskCounts(succeeded + failed, succeeded=succeeded, failed=failed)
    return LatestRun(state, counts, "2026-11-01T12:00:00.000Z", "2026-11-01T12:05:00.000Z", finished)


@pytest.mark.parametrize(
    ("status", "run", "code"),
    [
        (latest("running", finished=False), 1, "jobRunning"),
        (latest("succeeded", succeeded=10, failed=0), 1, "nothingToRerun"),
        (latest(), MAX_RERUNS + 1, "rerunLimit"),
    ],
)
def test_a_rerun_is_refused_with_the_reason_as_its_code(status: LatestRun, run: int, code: str) -> None:
    with pytest.raises(RerunRefused) as refused:
        check_rerun("job-1", status, run)
    assert refused.value.code == code and "job-1" in str(refused.value)


def test_a_finished_job_with_tasks_that_did_not_succeed_may_be_rerun_up_to_the_limit() -> None:
    for run in range(1, MAX_RERUNS + 1):
        check_rerun("job-1", latest(), run)
    # A succeeded job whose failures were tolerated, or with skipped tasks, has something to re-run.
    check_rerun("job-1", latest("succeeded", succeeded=9, failed=1), 1)


def test_the_runs_keep_each_run_as_it_ended_and_show_the_latest_from_the_status() -> None:
    created = "2026-11-01T11:59:00.000Z"
    assert runs_view((), created, latest()) == [
        {
            "number": 1,
            "requestedAt": created,
            "startedAt": "2026-11-01T12:00:00.000Z",
            "endedAt": "2026-11-01T12:05:00.000Z",
            "reason": None,
            "state": "failed",
            "taskCounts": TaskCounts(10, succeeded=8, failed=2).to_json(),
        }
    ]
    stored = next_runs((), created, latest(), "2026-11-02T00:00:00.000Z", "fixed the input")
    assert [entry["number"] for entry in stored] == [1, 2]
    # Run 2 is running: the whole job's counts less the 8 tasks kept from run 1 are run 2's.
    now = LatestRun("running", TaskCounts(10, running=1, succeeded=9), "2026-11-02T00:00:01.000Z", None, False)
    shown = runs_view(stored, created, now)
    assert shown[0]["state"] == "failed" and shown[0]["taskCounts"]["failed"] == 2
    assert shown[1]["reason"] == "fixed the input" and shown[1]["requestedAt"] == "2026-11-02T00:00:00.000Z"
    assert shown[1]["state"] == "running" and shown[1]["endedAt"] is None
    assert shown[1]["taskCounts"] == TaskCounts(2, running=1, succeeded=1).to_json()
    assert "kept" not in shown[1]
    third = next_runs(
        stored, created, LatestRun("failed", TaskCounts(10, succeeded=9, failed=1), "a", "b", True), "c", None
    )
    assert [e["number"] for e in third] == [1, 2, 3] and third[1]["state"] == "failed" and third[2]["kept"] == 9


def test_run_counts_take_the_kept_tasks_off_the_whole_jobs() -> None:
    assert run_counts(TaskCounts(10, succeeded=10), 8) == TaskCounts(2, succeeded=2)
    assert run_counts(TaskCounts(10, failed=10), 8) == TaskCounts(10, failed=10)


def test_a_write_of_a_later_run_applies_and_one_of_an_earlier_run_never_does() -> None:
    assert job_write_applies(1, JobState.FAILED, 2, JobState.PENDING)
    assert not job_write_applies(2, JobState.PENDING, 1, JobState.SUCCEEDED)
    assert not job_write_applies(2, JobState.SUCCEEDED, 2, JobState.RUNNING)
    assert job_write_applies(2, JobState.RUNNING, 2, JobState.CANCELLING)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"[1]", ""),
        (b"{", ""),
        (b'{"reason": 3}', "reason"),
        (b'{"reasn": "x"}', "reasn"),
        (('{"reason": "' + "x" * (MAX_RERUN_REASON + 1) + '"}').encode(), "reason"),
    ],
)
def test_a_bad_rerun_body_says_what_is_wrong_and_where(body: bytes, path: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_rerun(body)
    assert path in [problem["path"] for problem in refused.value.details()]


def test_a_rerun_body_is_optional() -> None:
    assert parse_rerun(b"") is None and parse_rerun(b"{}") is None
    assert parse_rerun(b'{"reason": "after the fix"}') == "after the fix"
