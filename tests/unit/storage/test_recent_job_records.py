"""What a job store remembers of the records it read (`JobStore.recent`): the last read of each job, for as
long as the caller allows and until anything is written through the store, and never a read that a write
overtook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from durable_batch.storage.jobs import JobRecord, JobState, JobStore
from durable_batch.storage.rows import MemoryRows, Row

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 12, 7, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class HookedRows(MemoryRows):
    """Memory rows that run `during_get` (once) while a read is on its way."""

    def __init__(self) -> None:
        super().__init__()
        self.during_get: Callable[[], object] | None = None

    def get(self, partition: str, key: str) -> Row | None:
        hook, self.during_get = self.during_get, None
        if hook is not None:
            hook()
        return super().get(partition, key)


def record(job_id: str, state: JobState = JobState.RUNNING) -> JobRecord:
    return JobRecord(job_id, state, CREATED)


def test_the_last_read_is_remembered_for_as_long_as_the_caller_allows() -> None:
    clock = Clock()
    store = JobStore(MemoryRows(), clock=clock)
    store.create_job(record("a"))
    assert store.recent("a", 10) is None  # written, never read
    read = store.get_job("a")
    assert read is not None and store.recent("a", 10) == read
    clock.now += 10
    assert store.recent("a", 10) == read and store.recent("a", 9.9) is None
    assert store.get_job("missing") is None and store.recent("missing", 10) is None


@pytest.mark.parametrize("write", ["create", "upsert", "delete"])
def test_a_write_through_the_store_forgets_what_was_read(write: str) -> None:
    store = JobStore(MemoryRows(), clock=Clock())
    store.create_job(record("a"))
    store.get_job("a")
    if write == "create":
        store.create_job(record("b"))
    elif write == "upsert":
        store.upsert_job(record("a", JobState.CANCELLING))
    else:
        store.delete_job("b")
    assert store.recent("a", 10) is None


def test_a_read_that_a_write_overtook_is_not_remembered() -> None:
    rows = HookedRows()
    store = JobStore(rows, clock=Clock())
    store.create_job(record("a"))
    rows.during_get = lambda: store.upsert_job(record("a", JobState.CANCELLING))
    store.get_job("a")  # began before the cancel was written
    assert store.recent("a", 10) is None
    assert store.get_job("a").state == JobState.CANCELLING == store.recent("a", 10).state  # type: ignore[union-attr]
