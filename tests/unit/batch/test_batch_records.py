"""The chunk model's no-downgrade rule and its state codes, `cancelled` among them."""

from __future__ import annotations

from batch.records import Chunk, TaskUpdate
from batch.states import TaskState


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
