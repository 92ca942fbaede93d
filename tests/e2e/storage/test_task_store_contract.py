"""The task store's contract, on both row backends: in memory and on a real Azurite table. Chunk rows, the
no-downgrade rule, batches applied once (also when many end at once), failure rows, paging by state, counts,
lookups by id, deletion, rows packed and rows written before packing."""

from __future__ import annotations

import dataclasses
import json
import random
import string
import threading
import time
from typing import Any, cast

import pytest

from durable_batch.batch.records import CHUNK_SIZE, Chunk, TaskUpdate
from durable_batch.lib.azure_storage.errors import SerializationError
from durable_batch.storage import InvalidContinuationToken, TaskState, TaskStore
from durable_batch.storage.rows import Put, RowStore
from durable_batch.storage.tasks import ERROR_MAX_CHARS, Failure, truncate_error

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(rows: RowStore) -> TaskStore:
    return TaskStore(rows)


def layout(tasks: int, partition_size: int) -> list[tuple[int, int, list[str]]]:
    """Chunks of `tasks` tasks t00000.. in partitions of `partition_size`."""
    chunks = []
    for p, start in enumerate(range(0, tasks, partition_size)):
        ids = [f"t{i:05d}" for i in range(start, min(tasks, start + partition_size))]
        for n, first in enumerate(range(0, len(ids), CHUNK_SIZE)):
            chunks.append((p, n, ids[first : first + CHUNK_SIZE]))
    return chunks


def test_a_prepared_job_lists_every_task_pending_and_finds_each_by_id(store: TaskStore, job_id: str) -> None:
    assert store.create_job(job_id, "v1:700", layout(1200, 700))
    assert store.partition_size(job_id) == 700
    assert store.counts(job_id).pending == 1200
    record = store.get_task(job_id, "t00750")
    assert record is not None and record.state == TaskState.PENDING and record.partition == 1
    assert store.get_task(job_id, "nope") is None
    assert store.get_task(f"{job_id}-other", "t00001") is None
    # Its place in its partition (the second chunk of partition 1), and the size the layout was made for.
    assert record.position == 50 and store.get_task(job_id, "t01199").position == 499  # type: ignore[union-attr]
    assert store.partition_size(f"{job_id}-other") is None
    # Preparing again for the same layout writes nothing (a started job keeps its records).
    store.record(job_id, 0, 0, [TaskUpdate(0, TaskState.SUCCEEDED, 1, batch=0)])
    assert not store.create_job(job_id, "v1:700", layout(1200, 700))
    assert store.counts(job_id).succeeded == 1


def test_a_job_prepared_with_its_count_writes_the_same_rows_as_one_without(rows: RowStore, job_id: str) -> None:
    # The count sizes the id index up front (a million ids are then held once); what is written is the same.
    store = TaskStore(rows)
    chunks = layout(4500, 1000)
    assert store.create_job(f"{job_id}-a", "v1:1000", iter(chunks), 4500)
    assert store.create_job(f"{job_id}-b", "v1:1000", iter(chunks))
    written = [{row.key: row.props for row in rows.range(f"{job_id}-{side}", "", "~")} for side in "ab"]
    assert written[0] == written[1] and len(written[0]) == 9 + 3 + 1  # chunks, index buckets, the layout row
    assert store.get_task(f"{job_id}-a", "t04321") == store.get_task(f"{job_id}-b", "t04321") is not None


def test_records_never_go_back_and_a_batch_applies_once(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(10, 10))
    store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.RUNNING, 1, started_ms=1_000)])
    done = store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.SUCCEEDED, 1, 1_000, 2_000, batch=7)], batch=7)
    assert done.state(1) == TaskState.SUCCEEDED and 7 in done.done
    # A late running mark, a repeated batch and a later failure of the same attempt change nothing.
    store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.RUNNING, 1)])
    store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.FAILED, 1, error="late")], batch=7)
    store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.FAILED, 1, error="late")])
    record = store.get_task(job_id, "t00001")
    assert record is not None and record.state == TaskState.SUCCEEDED and record.result_batch == 7
    assert record.start_time is not None and record.end_time is not None
    assert (record.end_time - record.start_time).total_seconds() == 1
    # A running task's error is refreshed by its next attempt; attempts never decrease.
    store.record(job_id, 0, 0, [TaskUpdate(2, TaskState.RUNNING, 2, error="second")])
    store.record(job_id, 0, 0, [TaskUpdate(2, TaskState.RUNNING, 1, error="first")])
    again = store.get_task(job_id, "t00002")
    assert again is not None and (again.attempts, again.error) == (2, "second")


def test_failed_tasks_have_their_whole_error_and_a_list_of_their_own(
    store: TaskStore, rows: RowStore, job_id: str
) -> None:
    store.create_job(job_id, "v1", layout(1500, 1500))
    long_error = "E" * (ERROR_MAX_CHARS * 2)
    failures = {f"t{i:05d}": Failure(f"t{i:05d}", long_error, result_json='{"exitCode":3}') for i in (3, 600, 1400)}
    for number, i in ((0, 3), (1, 600), (2, 1400)):
        update = TaskUpdate(i % CHUNK_SIZE, TaskState.FAILED, 2, error=long_error)
        store.record(job_id, 0, number, [update], failures=failures)
    # A failure row a crash left without its chunk saying so is ignored.
    rows.commit(job_id, [Put("ft00004", {"chunk": "c000000-0000", "error": "stale"})])
    record = store.get_task(job_id, "t00600")
    assert record is not None and record.state == TaskState.FAILED and record.error == truncate_error(long_error)
    assert record.result_json == '{"exitCode":3}'
    first = store.query_tasks(job_id, "failed", page_size=2)
    assert [r.task_id for r in first.records] == ["t00003", "t00600"] and first.continuation_token
    second = store.query_tasks(job_id, "failed", page_size=2, continuation_token=first.continuation_token)
    assert [r.task_id for r in second.records] == ["t01400"] and second.continuation_token is None
    listed = store.query_tasks(job_id, page_size=5).records
    assert listed[3].state == TaskState.FAILED and len(listed[3].error or "") <= 300


def test_paging_by_state_in_task_order(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(1200, 600))
    store.record(job_id, 0, 1, [TaskUpdate(i, TaskState.SUCCEEDED, 1, batch=0) for i in range(0, 100, 3)], batch=0)
    store.record(job_id, 1, 0, [TaskUpdate(i, TaskState.SKIPPED, 0) for i in range(10)])
    seen: list[str] = []
    token = None
    while True:
        page = store.query_tasks(job_id, "succeeded", page_size=7, continuation_token=token)
        seen += [r.task_id for r in page.records]
        token = page.continuation_token
        if token is None:
            break
    assert seen == [f"t{500 + i:05d}" for i in range(0, 100, 3)]
    all_ids = [r.task_id for r in store.iter_tasks(job_id)]
    assert all_ids == [f"t{i:05d}" for i in range(1200)]
    assert [r.task_id for r in store.iter_tasks(job_id, "skipped")] == [f"t{600 + i:05d}" for i in range(10)]
    assert store.counts(job_id).to_json() == {
        "total": 1200,
        "pending": 1200 - 34 - 10,
        "running": 0,
        "succeeded": 34,
        "failed": 0,
        "skipped": 10,
        "cancelled": 0,
    }


def test_tokens_are_bound_to_their_query(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(5, 5))
    token = store.query_tasks(job_id, page_size=2).continuation_token
    assert token is not None
    with pytest.raises(InvalidContinuationToken):
        store.query_tasks(job_id, "failed", page_size=2, continuation_token=token)
    with pytest.raises(InvalidContinuationToken):
        store.query_tasks(f"{job_id}-other", page_size=2, continuation_token=token)
    with pytest.raises(InvalidContinuationToken):
        store.query_tasks(job_id, page_size=2, continuation_token="not a token!")
    with pytest.raises(ValueError):
        store.query_tasks(job_id, page_size=0)


def test_delete_job_removes_every_row_of_that_job_only(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(2345, 1000))
    store.create_job(f"{job_id}-kept", "v1", layout(3, 3))
    assert store.delete_job(job_id) > 0
    assert store.counts(job_id).total == 0 and store.get_task(job_id, "t00001") is None
    assert store.counts(f"{job_id}-kept").pending == 3


def test_iter_chunks_reads_every_chunk_of_the_job_in_task_order(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(1200, 700))
    store.create_job(f"{job_id}-other", "v1", layout(3, 3))
    store.record(job_id, 1, 0, [TaskUpdate(4, TaskState.FAILED, 1, 1_000, 2_000, error="boom")])
    chunks = list(store.iter_chunks(job_id))
    assert [(c.partition, c.number, len(c)) for c in chunks] == [(0, 0, 500), (0, 1, 200), (1, 0, 500)]
    assert [task_id for c in chunks for task_id in c.ids] == [f"t{i:05d}" for i in range(1200)]
    assert chunks[2].state(4) == TaskState.FAILED and chunks[2].errors == {4: "boom"}
    assert chunks[2].ended[4] == 2_000
    assert list(store.iter_chunks(f"{job_id}-none")) == []


def test_a_rerun_reopens_only_what_did_not_succeed_and_says_which_partitions_hold_it(
    store: TaskStore, job_id: str
) -> None:
    # Three partitions of 600 (two chunks each); a failure in partition 1's second chunk, skipped and
    # cancelled tasks in partition 2; partition 0 all succeeded. And a job that all succeeded.
    store.create_job(job_id, "v1:600", layout(1800, 600))
    for partition in range(3):
        for number, size in ((0, CHUNK_SIZE), (1, 100)):
            store.record(job_id, partition, number, [TaskUpdate(i, TaskState.SUCCEEDED, 1) for i in range(size)])
    store.create_job(f"{job_id}-b", "v1:600", layout(1800, 600))
    other = f"{job_id}-b"
    for partition in range(3):
        for number, size in ((0, CHUNK_SIZE), (1, 100)):
            states = [TaskState.SUCCEEDED] * size
            if (partition, number) == (1, 1):
                states[7] = TaskState.FAILED
            if partition == 2 and number == 0:
                states[0], states[1] = TaskState.SKIPPED, TaskState.CANCELLED
            store.record(other, partition, number, [TaskUpdate(i, s, 1) for i, s in enumerate(states)])
    reopened, kept = store.reopen(other, 2)
    assert reopened == [1, 2]
    assert kept.total == 600 and kept.succeeded == 600
    counts = store.counts(other)
    assert counts.pending == 3 and counts.succeeded == 1797
    record = store.get_task(other, "t01107")
    assert record is not None and record.state == TaskState.PENDING and record.attempts == 0
    # Repeating it changes nothing; a late write of run 1 does not touch run 2's records.
    assert store.reopen(other, 2) == ([1, 2], kept)
    store.record(other, 1, 1, [TaskUpdate(7, TaskState.FAILED, 3, error="late")])
    assert store.get_task(other, "t01107").state == TaskState.PENDING  # type: ignore[union-attr]
    store.record(other, 1, 1, [TaskUpdate(7, TaskState.SUCCEEDED, 1, batch=100_000_000, run=2)])
    assert store.get_task(other, "t01107").state == TaskState.SUCCEEDED  # type: ignore[union-attr]
    # A job where everything succeeded has nothing to reopen.
    assert store.reopen(job_id, 2)[0] == []


class CountingRows:
    """A row store that counts the writes of each key and takes a moment for each, as a real store does."""

    def __init__(self, rows: RowStore) -> None:
        self._rows = rows
        self.commits: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rows, name)

    def commit(self, partition: str, operations: Any) -> Any:
        time.sleep(0.02)
        self.commits.append([op.key for op in operations])
        return self._rows.commit(partition, operations)


def test_batches_of_a_chunk_that_end_together_are_written_together_each_once(rows: RowStore, job_id: str) -> None:
    counting = CountingRows(rows)
    store = TaskStore(cast(RowStore, counting))
    store.create_job(job_id, "v1", layout(40, 40))
    counting.commits.clear()
    seen: dict[int, list[tuple[int, list[int]]]] = {}

    def one_task_batch(position: int) -> None:
        def before_commit(chunk: Chunk, changed: list[int]) -> None:
            # Each batch's own result goes out before the row that says so, with the chunk about to be written.
            assert chunk.state(position) == TaskState.SUCCEEDED
            seen.setdefault(position, []).append((position, changed))

        update = TaskUpdate(position, TaskState.SUCCEEDED, 1, 1_000, 2_000, batch=100 + position)
        store.record(job_id, 0, 0, [update], batch=100 + position, before_commit=before_commit)

    threads = [threading.Thread(target=one_task_batch, args=(p,)) for p in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert store.counts(job_id).succeeded == 40
    chunk = store.read_chunk(job_id, 0, 0)
    assert chunk is not None and sorted(chunk.done) == [100 + p for p in range(40)]
    assert sorted(seen) == list(range(40)) and all(changed == [(p, [p])] for p, changed in seen.items())
    # One read and one write of the row for all the batches that ended while another wrote it.
    assert len(counting.commits) < 20, len(counting.commits)
    # Run again (after a crash, say), a batch changes nothing and writes nothing.
    store.record(job_id, 0, 0, [TaskUpdate(3, TaskState.FAILED, 2, error="late")], batch=103)
    assert store.get_task(job_id, "t00003").state == TaskState.SUCCEEDED  # type: ignore[union-attr]


class ReadCountingRows:
    def __init__(self, rows: RowStore) -> None:
        self._rows = rows
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rows, name)

    def get(self, partition: str, key: str) -> Any:
        self.reads += 1
        return self._rows.get(partition, key)


def test_a_batch_records_over_the_row_it_read_and_over_a_newer_one_when_that_changed(
    rows: RowStore, job_id: str
) -> None:
    counting = ReadCountingRows(rows)
    now = [100.0]
    store = TaskStore(cast(RowStore, counting), clock=lambda: now[0])
    other = TaskStore(rows)  # a batch of the same chunk in another process
    store.create_job(job_id, "v1", layout(10, 10))

    def run(position: int, batch: int, *, written_meanwhile: int | None = None, later: float = 0.0) -> int:
        counting.reads = 0
        assert store.read_chunk(job_id, 0, 0, remember=True) is not None
        if written_meanwhile is not None:
            other.record(job_id, 0, 0, [TaskUpdate(written_meanwhile, TaskState.SUCCEEDED, 1)], batch=50 + batch)
        now[0] += later
        store.record(job_id, 0, 0, [TaskUpdate(position, TaskState.SUCCEEDED, 1)], batch=batch)
        return counting.reads

    assert run(0, 1) == 1  # the row read before the batch ran is the one its record writes over
    assert run(1, 2, written_meanwhile=2) == 2  # changed meanwhile: the write is refused, read again, merged
    assert run(3, 3, later=60) == 2  # read long ago: not trusted, read again
    chunk = store.read_chunk(job_id, 0, 0)
    assert chunk is not None and sorted(chunk.done) == [1, 2, 3, 52]
    assert [chunk.state(i) for i in range(5)] == [TaskState.SUCCEEDED] * 4 + [TaskState.PENDING]


def test_a_task_storage_lost_is_recorded_failed_whatever_its_record_says(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(20, 10))
    store.record(job_id, 0, 0, [TaskUpdate(i, TaskState.SUCCEEDED, 1, batch=3) for i in range(10)], batch=3)
    # Two successes whose results are gone: failed, whatever the no-downgrade rule says, with failure rows.
    chunk = store.mark_lost(job_id, 0, 0, [f"t{i:05d}" for i in range(10)], [2, 5], "lost: gone", run=1, ended_ms=9)
    assert [chunk.state(i) for i in (1, 2, 5)] == [TaskState.SUCCEEDED, TaskState.FAILED, TaskState.FAILED]
    assert [r.task_id for r in store.query_tasks(job_id, TaskState.FAILED).records] == ["t00002", "t00005"]
    record = store.get_task(job_id, "t00002")
    assert record is not None and record.error == "lost: gone" and record.result_batch is None
    # A chunk row gone whole (the job's rows deleted here) is written again from the ids given.
    store.delete_job(job_id)
    store.mark_lost(job_id, 1, 0, [f"t{i:05d}" for i in range(10, 20)], list(range(10)), "lost: gone")
    assert store.counts(job_id).failed == 10


def test_closing_a_job_settles_every_open_task(store: TaskStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(1200, 700))
    store.record(job_id, 0, 0, [TaskUpdate(0, TaskState.SUCCEEDED, 1, batch=0), TaskUpdate(1, TaskState.RUNNING, 2)])
    counts = store.close_open(job_id, TaskState.CANCELLED, "abandoned: terminated", ended_ms=5)
    assert (counts.total, counts.succeeded, counts.cancelled, counts.skipped) == (1200, 1, 1, 1198)
    assert (counts.pending, counts.running) == (0, 0)
    running = store.get_task(job_id, "t00001")
    assert running is not None and running.state == TaskState.CANCELLED and running.attempts == 2
    # A batch that ends afterwards changes nothing.
    store.record(job_id, 0, 0, [TaskUpdate(1, TaskState.SUCCEEDED, 2, batch=1)], batch=1)
    assert store.counts(job_id) == counts


def test_chunks_and_the_id_index_are_stored_packed_several_times_smaller(
    store: TaskStore, rows: RowStore, job_id: str
) -> None:
    store.create_job(job_id, "v1:1000", layout(1000, 1000))
    ended = [
        TaskUpdate(i, TaskState.SUCCEEDED, 1, 1_765_000_000_000 + 37 * i, 1_765_000_000_002 + 37 * i, batch=0)
        for i in range(CHUNK_SIZE)
    ]
    chunk = store.record(job_id, 0, 0, ended, batch=0)
    row = rows.get(job_id, chunk.key)
    assert row is not None and "d0" not in row.props
    stored = sum(len(str(value)) for key, value in row.props.items() if key.startswith("z"))
    assert stored * 3 < len(chunk.body_json())
    index = [r for r in rows.range(job_id, "i", "j")]
    assert index and all("z0" in r.props and "d0" not in r.props for r in index)
    assert store.get_task(job_id, "t00499") == dataclasses.replace(
        store.query_tasks(job_id, page_size=500).records[499], position=499
    )


def test_a_chunk_that_packs_into_several_properties_reads_back_whole(store: TaskStore, job_id: str) -> None:
    # Errors nothing compresses: the packed text spans several properties, each under the service's 64 KiB.
    noise = random.Random(7)
    errors = ["".join(noise.choices(string.ascii_letters + "é€", k=290)) for _ in range(CHUNK_SIZE)]
    store.create_job(job_id, "v1", layout(CHUNK_SIZE, CHUNK_SIZE))
    store.record(job_id, 0, 0, [TaskUpdate(i, TaskState.FAILED, 1, error=errors[i]) for i in range(CHUNK_SIZE)])
    listed = store.query_tasks(job_id, page_size=CHUNK_SIZE).records
    assert [record.error for record in listed] == errors


def test_rows_written_before_packing_are_read_and_written_on(store: TaskStore, rows: RowStore, job_id: str) -> None:
    # A job prepared by an earlier version: its chunks' and index's JSON as text over d0, d1 ...
    chunks = [Chunk(0, n, [f"t{i:05d}" for i in range(n * CHUNK_SIZE, (n + 1) * CHUNK_SIZE)]) for n in range(2)]
    body = chunks[1].body_json()
    index = json.dumps({task_id: chunk.key for chunk in chunks for task_id in chunk.ids})
    rows.commit(
        job_id,
        [
            Put(chunks[0].key, {"s": chunks[0].state_codes, "d0": chunks[0].body_json()}),
            Put(chunks[1].key, {"s": chunks[1].state_codes, "d0": body[:5000], "d1": body[5000:]}),
            Put("i00000", {"d0": index[:9000], "d1": index[9000:]}),
            Put("m", {"layout": "v1:1000", "tasks": 1000, "chunks": 2, "buckets": 1}),
        ],
    )
    record = store.get_task(job_id, "t00700")
    assert record is not None and record.state == TaskState.PENDING and record.position == 700
    store.record(job_id, 0, 1, [TaskUpdate(200, TaskState.SUCCEEDED, 1, batch=4)], batch=4)
    assert store.counts(job_id).succeeded == 1
    assert store.get_task(job_id, "t00700").state == TaskState.SUCCEEDED  # type: ignore[union-attr]


def test_a_packed_row_storage_garbled_is_a_serialization_error(store: TaskStore, rows: RowStore, job_id: str) -> None:
    store.create_job(job_id, "v1", layout(10, 10))
    rows.commit(job_id, [Put("c000000-0000", {"s": "p" * 10, "z0": "not-base64!"})])
    with pytest.raises(SerializationError, match="task chunk c000000-0000"):
        store.read_chunk(job_id, 0, 0)
