"""The job store's contract, on both row backends: in memory and on a real Azurite table. Newest-first paged
listing, state filter, create-if-absent, no downgrade, deletion."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from durable_batch.storage import (
    InvalidContinuationToken,
    JobRecord,
    JobState,
    JobStore,
    TaskCounts,
)
from durable_batch.storage.results import CURRENT_LAYOUT
from durable_batch.storage.rows import RowStore

pytestmark = pytest.mark.e2e


@pytest.fixture
def jobs(rows: RowStore) -> JobStore:
    # An empty row store per test (conftest): listing "all jobs" must only see this test's jobs.
    return JobStore(rows)


T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def create(jobs: JobStore, count: int, state: JobState = JobState.RUNNING) -> list[str]:
    ids = [f"job-{i:02d}" for i in range(count)]
    for i, job_id in enumerate(ids):
        assert jobs.upsert_job(JobRecord(job_id, state, created=T0 + timedelta(minutes=i), spec_hash=f"h{i}"))
    return ids


def test_round_trip(jobs: JobStore) -> None:
    record = JobRecord(
        "billing-2026-11",
        JobState.RUNNING,
        created=T0,
        start_time=T0 + timedelta(seconds=1),
        task_counts=TaskCounts(total=10, pending=6, running=2, succeeded=1, failed=1),
        spec_hash="sha256:abc",
    )
    assert jobs.get_job("billing-2026-11") is None
    assert jobs.upsert_job(record)
    # A record created here names the layout of its job's files (`durable_batch.storage.results`).
    assert jobs.get_job("billing-2026-11") == dataclasses.replace(record, layout=CURRENT_LAYOUT)


def test_listing_is_newest_first_and_paged(jobs: JobStore) -> None:
    ids = create(jobs, 5)
    first = jobs.list_jobs(page_size=2)
    assert [r.job_id for r in first.records] == ["job-04", "job-03"]
    second = jobs.list_jobs(page_size=2, continuation_token=first.continuation_token)
    assert [r.job_id for r in second.records] == ["job-02", "job-01"]
    third = jobs.list_jobs(page_size=2, continuation_token=second.continuation_token)
    assert [r.job_id for r in third.records] == ["job-00"]
    assert third.continuation_token is None
    assert [r.job_id for r in jobs.list_jobs(page_size=5).records] == ids[::-1]
    assert jobs.list_jobs(page_size=5).continuation_token is None


def test_state_filter_follows_state_changes(jobs: JobStore) -> None:
    create(jobs, 4)
    finished = T0 + timedelta(hours=1)
    counts = TaskCounts(total=3, succeeded=3)
    for job_id in ("job-01", "job-03"):
        done = JobRecord(job_id, JobState.SUCCEEDED, created=T0, end_time=finished, task_counts=counts)
        assert jobs.upsert_job(done)
    assert [r.job_id for r in jobs.list_jobs("running").records] == ["job-02", "job-00"]
    succeeded = jobs.list_jobs(JobState.SUCCEEDED).records
    assert [r.job_id for r in succeeded] == ["job-03", "job-01"]
    # Stored values the update left as None survive; the creation time never moves.
    assert succeeded[0].spec_hash == "h3"
    assert succeeded[0].created == T0 + timedelta(minutes=3)
    assert succeeded[0].task_counts == counts
    assert jobs.list_jobs("failed").records == []
    assert len(jobs.list_jobs().records) == 4


def test_a_late_running_write_never_overwrites_a_finished_job(jobs: JobStore) -> None:
    create(jobs, 1)
    failed = JobRecord("job-00", JobState.FAILED, created=T0, reason="3 of 10 tasks failed (tolerated: 0%)")
    assert jobs.upsert_job(failed)
    late = JobRecord("job-00", JobState.RUNNING, created=T0, task_counts=TaskCounts(total=10, running=10))
    assert not jobs.upsert_job(late)
    stored = jobs.get_job("job-00")
    assert stored is not None
    assert (stored.state, stored.reason) == (JobState.FAILED, "3 of 10 tasks failed (tolerated: 0%)")
    assert [r.job_id for r in jobs.list_jobs("failed").records] == ["job-00"]
    assert jobs.list_jobs("running").records == []


def test_tokens_are_bound_to_their_filter(jobs: JobStore) -> None:
    create(jobs, 3)
    token = jobs.list_jobs("running", page_size=1).continuation_token
    assert token is not None
    with pytest.raises(InvalidContinuationToken):
        jobs.list_jobs("failed", page_size=1, continuation_token=token)
    assert len(jobs.list_jobs("running", page_size=1, continuation_token=token).records) == 1


def test_delete(jobs: JobStore) -> None:
    create(jobs, 2)
    assert jobs.delete_job("job-00")
    assert not jobs.delete_job("job-00")
    assert jobs.get_job("job-00") is None
    assert [r.job_id for r in jobs.list_jobs().records] == ["job-01"]
    assert [r.job_id for r in jobs.list_jobs("running").records] == ["job-01"]
    # The id can be used again, by a new job.
    assert jobs.upsert_job(JobRecord("job-00", JobState.PENDING, created=T0 + timedelta(days=1)))
    assert [r.job_id for r in jobs.list_jobs().records] == ["job-00", "job-01"]


def test_create_is_only_if_absent_and_writes_nothing_otherwise(jobs: JobStore) -> None:
    first = JobRecord("job-00", JobState.PENDING, created=T0, spec_hash="h1")
    assert jobs.create_job(first)
    assert not jobs.create_job(JobRecord("job-00", JobState.RUNNING, created=T0 + timedelta(hours=1), spec_hash="h2"))
    assert jobs.get_job("job-00") == dataclasses.replace(first, layout=CURRENT_LAYOUT)
    assert [r.job_id for r in jobs.list_jobs().records] == ["job-00"]
    assert jobs.list_jobs("running").records == []


def test_a_requested_cancel_is_not_hidden_by_a_late_running_write(jobs: JobStore) -> None:
    create(jobs, 1)
    assert jobs.upsert_job(JobRecord("job-00", JobState.CANCELLING, created=T0))
    assert not jobs.upsert_job(JobRecord("job-00", JobState.RUNNING, created=T0))
    assert [r.job_id for r in jobs.list_jobs("cancelling").records] == ["job-00"]
    assert jobs.upsert_job(JobRecord("job-00", JobState.CANCELLED, created=T0, end_time=T0 + timedelta(hours=1)))
    stored = jobs.get_job("job-00")
    assert stored is not None and stored.state == JobState.CANCELLED and stored.end_time == T0 + timedelta(hours=1)
    assert jobs.list_jobs("cancelling").records == []


def test_a_job_deleted_after_a_state_change_leaves_no_row_in_any_listing(jobs: JobStore) -> None:
    create(jobs, 2)
    assert jobs.upsert_job(JobRecord("job-00", JobState.SUCCEEDED, created=T0))
    assert jobs.delete_job("job-00")
    assert [r.job_id for r in jobs.list_jobs().records] == ["job-01"]
    assert jobs.list_jobs("succeeded").records == [] and jobs.list_jobs("running").records != []


def test_times_come_back_as_plain_utc_datetimes(jobs: JobStore) -> None:
    offset = datetime(2026, 11, 1, 13, 0, 0, 123_000, tzinfo=timezone(timedelta(hours=1)))
    assert jobs.upsert_job(JobRecord("job-00", JobState.RUNNING, created=offset, start_time=offset))
    stored = jobs.get_job("job-00")
    assert stored is not None
    assert type(stored.created) is datetime and stored.created.tzinfo is UTC
    assert stored.created == stored.start_time == datetime(2026, 11, 1, 12, 0, 0, 123_000, tzinfo=UTC)


def test_pages_of_one_walk_every_job_exactly_once(jobs: JobStore) -> None:
    ids = create(jobs, 7)
    seen: list[str] = []
    token: str | None = None
    while True:
        page = jobs.list_jobs(page_size=1, continuation_token=token)
        seen += [r.job_id for r in page.records]
        token = page.continuation_token
        if token is None:
            break
    assert seen == ids[::-1]


def test_a_later_run_starts_the_record_over_and_an_earlier_runs_write_is_skipped(jobs: JobStore) -> None:
    ended = JobRecord("job-r", JobState.FAILED, T0, start_time=T0, end_time=T0, reason="2 failed", controls=3)
    assert jobs.create_job(JobRecord("job-r", JobState.PENDING, T0, spec_hash="h", max_parallel_tasks=4))
    assert jobs.upsert_job(ended)
    runs = ({"number": 1, "reason": None}, {"number": 2, "reason": "fixed"})
    assert jobs.upsert_job(JobRecord("job-r", JobState.PENDING, T0 + timedelta(days=1), run=2, runs=runs))
    record = jobs.get_job("job-r")
    assert record is not None and record.state == JobState.PENDING and record.run == 2 and record.runs == runs
    # The run's own fields start empty; the job's identity and settings stay.
    assert record.end_time is None and record.reason is None and record.controls is None
    assert record.created == T0 and record.spec_hash == "h" and record.max_parallel_tasks == 4
    assert [r.job_id for r in jobs.list_jobs(JobState.PENDING).records] == ["job-r"]
    assert jobs.list_jobs(JobState.FAILED).records == []
    # A late write of run 1, and a downgrade within run 2, are skipped; a write with no run is the stored run's.
    assert not jobs.upsert_job(JobRecord("job-r", JobState.SUCCEEDED, T0, run=1))
    assert jobs.upsert_job(JobRecord("job-r", JobState.SUCCEEDED, T0))
    assert not jobs.upsert_job(JobRecord("job-r", JobState.RUNNING, T0, run=2))
    final = jobs.get_job("job-r")
    assert final is not None and final.state == JobState.SUCCEEDED and final.run == 2 and final.runs == runs
