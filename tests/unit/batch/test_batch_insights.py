"""`durable_batch.batch.insights`: completions over time and failures grouped by error, from chunks."""

from __future__ import annotations

import pytest

from durable_batch.batch.insights import (
    GROUP_LIMIT,
    MAX_BUCKETS,
    SAMPLE_IDS,
    SIGNATURE_CHARS,
    Insights,
    error_signature,
)
from durable_batch.batch.records import Chunk, TaskUpdate
from durable_batch.batch.states import TaskState

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000  # ms; a whole second


def chunk(size: int, number: int = 0) -> Chunk:
    return Chunk(0, number, [f"t{number}-{i:04d}" for i in range(size)])


def finish(c: Chunk, i: int, state: TaskState, ended_s: float, error: str | None = None) -> None:
    ended = T0 + round(ended_s * 1000)
    c.apply([TaskUpdate(i, state, 1, started_ms=T0, ended_ms=ended, error=error)])


def test_signature_is_the_first_non_blank_line_collapsed_and_cut() -> None:
    assert error_signature("\n  ValueError:   bad\tinput \nTraceback...") == "ValueError: bad input"
    assert error_signature(None) == "(no error recorded)"
    assert error_signature(" \n\t") == "(blank error)"
    assert len(error_signature("x" * 1000)) == SIGNATURE_CHARS


def test_timeline_counts_every_finished_task_once_in_its_interval() -> None:
    c = chunk(10)
    finish(c, 0, TaskState.SUCCEEDED, 0.2)
    finish(c, 1, TaskState.SUCCEEDED, 9.9)
    finish(c, 2, TaskState.FAILED, 5.0, "boom")
    finish(c, 3, TaskState.SKIPPED, 19.5)
    c.apply([TaskUpdate(4, TaskState.RUNNING, 1, started_ms=T0)])
    insights = Insights()
    insights.add(c)
    timeline = insights.timeline(2)
    assert timeline["bucketSeconds"] == 10
    assert [(b["succeeded"], b["failed"], b["skipped"]) for b in timeline["buckets"]] == [(2, 1, 0), (0, 0, 1)]
    assert timeline["start"] == "2023-11-14T22:13:20.000Z" and timeline["end"] == "2023-11-14T22:13:40.000Z"
    assert timeline["buckets"][1]["start"] == "2023-11-14T22:13:30.000Z"
    # Never more intervals than asked for; a finer timeline has the same total.
    fine = insights.timeline(MAX_BUCKETS)
    assert len(fine["buckets"]) <= MAX_BUCKETS and fine["bucketSeconds"] == 1
    assert sum(b["succeeded"] + b["failed"] + b["skipped"] for b in fine["buckets"]) == 4


def test_a_job_with_nothing_finished_has_an_empty_timeline_and_no_failures() -> None:
    insights = Insights()
    insights.add(chunk(3))
    assert insights.to_json(60, 10) == {
        "tasks": 3,
        "completions": {"start": None, "end": None, "bucketSeconds": None, "buckets": []},
        "failures": {"failed": 0, "groups": [], "otherFailures": 0, "distinctErrors": 0},
    }


def test_failures_are_grouped_by_signature_most_frequent_first_with_sample_ids() -> None:
    insights = Insights()
    for number in range(2):
        c = chunk(20, number)
        for i in range(8):
            finish(c, i, TaskState.FAILED, 1, f"TimeoutError: slow\n  at line {i}")
        finish(c, 10, TaskState.FAILED, 1, "KeyError: 'x'")
        insights.add(c)
    failures = insights.failure_groups(1)
    assert failures["failed"] == 18 and failures["otherFailures"] == 2 and failures["distinctErrors"] == 2
    (group,) = failures["groups"]
    assert group["error"] == "TimeoutError: slow" and group["count"] == 16
    assert group["taskIds"] == [f"t0-{i:04d}" for i in range(SAMPLE_IDS)]


def test_distinct_errors_are_bounded_and_the_rest_still_counted() -> None:
    insights = Insights()
    c = chunk(GROUP_LIMIT + 7)
    for i in range(GROUP_LIMIT + 7):
        finish(c, i, TaskState.FAILED, 1, f"error number {i}")
    insights.add(c)
    failures = insights.failure_groups(5)
    assert failures["failed"] == GROUP_LIMIT + 7 and failures["distinctErrors"] == GROUP_LIMIT
    assert failures["otherFailures"] == GROUP_LIMIT + 7 - 5


@pytest.mark.parametrize("buckets", [0, MAX_BUCKETS + 1])
def test_bucket_counts_out_of_range_are_refused(buckets: int) -> None:
    with pytest.raises(ValueError, match="buckets"):
        Insights().timeline(buckets)
