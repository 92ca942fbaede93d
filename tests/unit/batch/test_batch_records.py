"""The chunk model's no-downgrade rule (with runs) and its state codes, `cancelled` among them."""

from __future__ import annotations

import pytest

from durable_batch.batch.records import BATCHES_PER_RUN, Chunk, TaskUpdate, first_batch
from durable_batch.batch.states import TaskState

pytestmark = pytest.mark.unit


def chunk(n: int = 3) -> Chunk:
    return Chunk(0, 0, [f"t{i}" for i in range(n)])


def test_cancelled_is_a_finished_state_with_its_own_code_and_count() -> None:
    c = chunk()
    c.apply([TaskUpdate(0, TaskState.RUNNING, 1), TaskUpdate(1, TaskState.SKIPPED, 0)])
    assert c.apply([TaskUpdate(0, TaskState.CANCELLED, 1, error="cancelled: the job was cancelled")]) == [0]
    assert c.state(0) == TaskState.CANCELLED
    assert c.state_codes == "ckp"
    counts = c.counts()
    assert (counts.cancelled, counts.failed, counts.skipped, counts.pending) == (1, 0, 1, 1)
    assert Chunk.from_parts(c.state_codes, c.body_json()).state(0) == TaskState.CANCELLED


def test_a_finished_task_is_never_moved_to_another_finished_state() -> None:
    c = chunk()
    c.apply([TaskUpdate(0, TaskState.SUCCEEDED, 1, batch=0), TaskUpdate(1, TaskState.CANCELLED, 1)])
    # A batch abandoned by the cancel that returns late, and a cancel that comes after the task ended.
    assert c.apply([TaskUpdate(0, TaskState.CANCELLED, 1), TaskUpdate(1, TaskState.SUCCEEDED, 1, batch=3)]) == []
    assert (c.state(0), c.state(1)) == (TaskState.SUCCEEDED, TaskState.CANCELLED)


def test_a_requeue_takes_a_running_task_of_that_attempt_back_to_pending_and_nothing_else() -> None:
    c = chunk()
    c.apply([TaskUpdate(0, TaskState.RUNNING, 2), TaskUpdate(1, TaskState.SUCCEEDED, 1, batch=0)])
    back = [TaskUpdate(i, TaskState.PENDING, 1, requeue=True) for i in range(3)]
    assert c.apply(back) == [0]  # the succeeded task and the pending one are left as they are
    assert (c.state(0), c.attempts[0]) == (TaskState.PENDING, 1)
    assert c.state(1) == TaskState.SUCCEEDED and c.state(2) == TaskState.PENDING
    # Its next attempt runs as the second again; a requeue of an older attempt changes nothing.
    assert c.apply([TaskUpdate(0, TaskState.RUNNING, 2)]) == [0]
    assert c.apply([TaskUpdate(0, TaskState.PENDING, 0, requeue=True)]) == []


def test_a_later_run_replaces_a_record_that_did_not_succeed_and_never_a_succeeded_one() -> None:
    c = chunk(4)
    c.apply([TaskUpdate(0, TaskState.SUCCEEDED, 1, 10, 20, batch=3)])
    c.apply([TaskUpdate(1, TaskState.FAILED, 3, 10, 20, error="boom")])
    c.apply([TaskUpdate(2, TaskState.SKIPPED, 0), TaskUpdate(3, TaskState.CANCELLED, 1, error="cancelled")])
    reopened = [TaskUpdate(i, TaskState.PENDING, 0, run=2) for i in range(4)]
    assert c.apply(reopened) == [1, 2, 3]
    # The succeeded task keeps its record; the others start over, from a clean record of run 2.
    assert c.entry(0).state == TaskState.SUCCEEDED and c.entry(0).run == 1 and c.entry(0).batch == 3
    for i in (1, 2, 3):
        entry = c.entry(i)
        assert (entry.state, entry.attempts, entry.run) == (TaskState.PENDING, 0, 2)
        assert entry.error_head is None and entry.started_ms is None and entry.ended_ms is None
    # Within run 2 the usual rule holds; a late write of run 1 is never applied.
    assert c.apply([TaskUpdate(1, TaskState.SUCCEEDED, 1, batch=100_000_000, run=2)]) == [1]
    assert c.apply([TaskUpdate(1, TaskState.FAILED, 4, run=1), TaskUpdate(2, TaskState.FAILED, 9, run=1)]) == []
    assert c.apply([TaskUpdate(2, TaskState.RUNNING, 1, run=2, requeue=False)]) == [2]
    # A requeue never crosses runs; a run's record keeps its number through the row's JSON.
    assert c.apply([TaskUpdate(3, TaskState.PENDING, 0, run=3, requeue=True)]) == []
    again = Chunk.from_parts(c.state_codes, c.body_json())
    assert [again.entry(i).run for i in range(4)] == [1, 2, 2, 2]
    assert Chunk.from_parts(chunk(2).state_codes, chunk(2).body_json()).runs == [1, 1]


def test_each_run_numbers_its_batches_apart_from_every_other_run() -> None:
    assert first_batch(1) == 0 and first_batch(2) == BATCHES_PER_RUN and first_batch(11) == 10 * BATCHES_PER_RUN
