"""TaskStore against a real Azurite: chunked writes, the no-downgrade rule, paging, counts, deletion."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage import (
    InvalidContinuationToken,
    SerializationError,
    StorageAccount,
    TaskRecord,
    TaskState,
    TaskStore,
)
from storage.tasks import ERROR_MAX_CHARS, INLINE_RESULT_MAX_CHARS, truncate_error

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def pending(count: int, partition: int = 0) -> list[TaskRecord]:
    return [TaskRecord(f"t{i:05d}", TaskState.PENDING, partition=partition) for i in range(count)]


def test_250_records_are_written_in_chunks_and_read_back(tasks: TaskStore, job_id: str) -> None:
    report = tasks.upsert_tasks(job_id, pending(250, partition=3))
    assert (report.written, report.skipped) == (250, [])
    counts = tasks.count_by_state(job_id)
    assert counts[TaskState.PENDING] == 250
    assert sum(counts.values()) == 250
    record = tasks.get_task(job_id, "t00249")
    assert record == TaskRecord("t00249", TaskState.PENDING, partition=3)
    assert tasks.get_task(job_id, "t99999") is None


def test_fields_round_trip(tasks: TaskStore, job_id: str) -> None:
    record = TaskRecord(
        "inv-00001",
        TaskState.SUCCEEDED,
        attempts=2,
        error="timeout on attempt 1",
        start_time=T0,
        end_time=T0 + timedelta(seconds=3, microseconds=250),
        result_json='{"total":12.5}',
        partition=0,
    )
    tasks.upsert_tasks(job_id, [record])
    stored = tasks.get_task(job_id, "inv-00001")
    assert stored == record
    assert stored is not None and stored.result == {"total": 12.5}

    blob_record = TaskRecord("inv-00002", TaskState.SUCCEEDED, attempts=1, result_blob="j/tasks/x/result.json")
    tasks.upsert_tasks(job_id, [blob_record])
    assert tasks.get_task(job_id, "inv-00002") == blob_record


def test_naive_times_are_taken_as_utc(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, [TaskRecord("t1", TaskState.RUNNING, start_time=datetime(2026, 1, 2, 3, 4, 5))])
    stored = tasks.get_task(job_id, "t1")
    assert stored is not None and stored.start_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_long_errors_are_cut_to_fit_keeping_head_and_tail() -> None:
    text = "Traceback (most recent call last):\n" + "  frame\n" * 5000 + "ValueError: the real cause"
    cut = truncate_error(text)
    assert len(cut) <= ERROR_MAX_CHARS
    assert cut.startswith("Traceback")
    assert cut.endswith("ValueError: the real cause")
    assert "characters cut" in cut
    assert TaskRecord("t1", TaskState.FAILED, error=text).error == cut
    assert truncate_error("short") == "short"


def test_a_large_inline_result_is_refused() -> None:
    with pytest.raises(SerializationError, match="place_task_result"):
        TaskRecord("t1", TaskState.SUCCEEDED, result_json="1" * (INLINE_RESULT_MAX_CHARS + 1))


def test_a_late_running_write_never_overwrites_a_finished_state(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(150))
    done = [TaskRecord(f"t{i:05d}", TaskState.SUCCEEDED, attempts=1, end_time=T0) for i in range(150)]
    assert tasks.upsert_tasks(job_id, done).written == 150

    late = [TaskRecord(f"t{i:05d}", TaskState.RUNNING, attempts=1, start_time=T0) for i in range(150)]
    report = tasks.upsert_tasks(job_id, late)
    assert report.written == 0
    assert report.skipped == [f"t{i:05d}" for i in range(150)]
    assert tasks.count_by_state(job_id)[TaskState.SUCCEEDED] == 150
    # An older attempt of the same state is stale too.
    tasks.upsert_tasks(job_id, [TaskRecord("x", TaskState.RUNNING, attempts=3)])
    assert tasks.upsert_tasks(job_id, [TaskRecord("x", TaskState.RUNNING, attempts=2)]).skipped == ["x"]


def test_applied_writes_merge_and_attempts_never_decrease(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, [TaskRecord("t1", TaskState.RUNNING, attempts=2, start_time=T0, error="boom")])
    tasks.upsert_tasks(job_id, [TaskRecord("t1", TaskState.SUCCEEDED, attempts=0, result_json="7")])
    stored = tasks.get_task(job_id, "t1")
    assert stored == TaskRecord(
        "t1", TaskState.SUCCEEDED, attempts=2, start_time=T0, error="boom", result_json="7", partition=None
    )


def test_duplicates_in_one_call_collapse_to_the_furthest_along(tasks: TaskStore, job_id: str) -> None:
    records = [
        TaskRecord("t1", TaskState.FAILED, attempts=3),
        TaskRecord("t1", TaskState.RUNNING, attempts=3),
        TaskRecord("t2", TaskState.RUNNING, attempts=1),
        TaskRecord("t2", TaskState.RUNNING, attempts=2),
    ]
    assert tasks.upsert_tasks(job_id, records).written == 2
    assert [(r.task_id, r.state, r.attempts) for r in tasks.iter_tasks(job_id)] == [
        ("t1", TaskState.FAILED, 3),
        ("t2", TaskState.RUNNING, 2),
    ]


def test_force_resets_records(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, [TaskRecord("t1", TaskState.FAILED, attempts=3, error="boom")])
    tasks.upsert_tasks(job_id, [TaskRecord("t1", TaskState.PENDING)], force=True)
    assert tasks.get_task(job_id, "t1") == TaskRecord("t1", TaskState.PENDING)


def test_concurrent_writers_cannot_downgrade(account: StorageAccount, job_id: str) -> None:
    # A table of its own keeps the emulator's range scans short while four writers hammer it.
    tasks = TaskStore(account, table=f"Race{uuid.uuid4().hex[:12]}")
    ids = [f"t{i:05d}" for i in range(120)]
    tasks.upsert_tasks(job_id, [TaskRecord(i, TaskState.PENDING) for i in ids])
    errors: list[BaseException] = []

    def late_running_writer() -> None:
        try:
            for _ in range(8):
                tasks.upsert_tasks(job_id, [TaskRecord(i, TaskState.RUNNING, attempts=1) for i in ids])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    writers = [threading.Thread(target=late_running_writer) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        for start in range(0, len(ids), 10):
            group = ids[start : start + 10]
            tasks.upsert_tasks(job_id, [TaskRecord(i, TaskState.SUCCEEDED, attempts=1) for i in group])
    finally:
        for writer in writers:
            writer.join()
    assert errors == []
    assert tasks.count_by_state(job_id)[TaskState.SUCCEEDED] == 120


def test_paging_with_continuation_tokens(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(250))
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        page = tasks.query_tasks(job_id, page_size=100, continuation_token=token)
        sizes.append(len(page.records))
        seen.extend(r.task_id for r in page.records)
        token = page.continuation_token
        if token is None:
            break
        assert token.isascii() and "/" not in token and "+" not in token
    assert sizes == [100, 100, 50]
    assert seen == [f"t{i:05d}" for i in range(250)]


def test_paging_filtered_by_state(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(250))
    failed = [TaskRecord(f"t{i:05d}", TaskState.FAILED, attempts=1, error=f"e{i}") for i in range(0, 250, 3)]
    tasks.upsert_tasks(job_id, failed)
    first = tasks.query_tasks(job_id, "failed", page_size=50)
    assert len(first.records) == 50 and first.continuation_token is not None
    second = tasks.query_tasks(job_id, TaskState.FAILED, page_size=50, continuation_token=first.continuation_token)
    assert second.continuation_token is None
    listed = [r.task_id for r in first.records + second.records]
    assert listed == [f"t{i:05d}" for i in range(0, 250, 3)]
    assert all(r.error == f"e{int(r.task_id[1:])}" for r in first.records)
    assert tasks.query_tasks(job_id, "skipped").records == []


def test_an_exact_last_page_has_no_token(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(100))
    page = tasks.query_tasks(job_id, page_size=100)
    assert len(page.records) == 100 and page.continuation_token is None


def test_tokens_are_bound_to_their_query(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(5))
    token = tasks.query_tasks(job_id, page_size=2).continuation_token
    assert token is not None
    with pytest.raises(InvalidContinuationToken):
        tasks.query_tasks(job_id, "failed", page_size=2, continuation_token=token)
    with pytest.raises(InvalidContinuationToken):
        tasks.query_tasks(f"{job_id}-other", page_size=2, continuation_token=token)
    with pytest.raises(InvalidContinuationToken):
        tasks.query_tasks(job_id, page_size=2, continuation_token="not a token!")
    with pytest.raises(ValueError, match="page_size"):
        tasks.query_tasks(job_id, page_size=0)


def test_delete_job_removes_every_record(tasks: TaskStore, job_id: str) -> None:
    tasks.upsert_tasks(job_id, pending(1234))
    tasks.upsert_tasks(f"{job_id}-kept", pending(3))
    assert tasks.delete_job(job_id) == 1234
    assert tasks.delete_job(job_id) == 0
    assert sum(tasks.count_by_state(job_id).values()) == 0
    assert tasks.count_by_state(f"{job_id}-kept")[TaskState.PENDING] == 3
