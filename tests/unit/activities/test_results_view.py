"""JobResults, the ResultsView a reduce handler gets: task order across blobs, lazy large results, len."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from durable_batch.activities.reduce import JobResults
from durable_batch.storage import MemoryBlobs, ResultStore
from durable_batch.storage.results import ResultBatch

pytestmark = pytest.mark.unit


def stores() -> tuple[MemoryBlobs, ResultStore]:
    blobs = MemoryBlobs()
    return blobs, ResultStore(blobs)


def row(index: int, result: Any = None, blob: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"t{index}", "index": index}
    if blob is not None:
        out["resultBlob"] = blob
    else:
        out["result"] = result
    return out


def test_iterates_in_task_order_across_overlapping_blobs() -> None:
    results = ResultStore(MemoryBlobs())
    # Flushes of one partition overlap in position; a second partition interleaves with the first.
    results.write_result_batch("j", "p00000-b00000", [row(i, i * 10) for i in (0, 3, 4, 9)])
    results.write_result_batch("j", "p00000-b00001", [row(i, i * 10) for i in (1, 2, 8)])
    results.write_result_batch("j", "p00001-b00000", [row(i, i * 10) for i in (7, 5, 6)])  # unsorted in its blob
    view = JobResults(results, "j")
    assert len(view) == 10
    assert list(view) == [(f"t{i}", i * 10) for i in range(10)]
    assert list(view) == list(view)  # iterable more than once


def test_large_results_are_read_only_when_reached() -> None:
    blobs, results = stores()
    blobs.put("j/tasks/t1/result.json", json.dumps({"big": "x" * 5000}))
    rows = [row(0, "small"), row(1, blob="j/tasks/t1/result.json"), row(2, None)]
    results.write_result_batch("j", "p00000-b00000", rows)
    view = JobResults(results, "j")
    assert len(view) == 3
    assert "j/tasks/t1/result.json" not in blobs.reads
    items = iter(view)
    assert next(items) == ("t0", "small")
    assert "j/tasks/t1/result.json" not in blobs.reads
    task_id, value = next(items)
    assert task_id == "t1" and value == {"big": "x" * 5000}
    assert next(items) == ("t2", None)  # a handler that returned None still has a result


def unlisted(blobs: MemoryBlobs, results: ResultStore, batch: str, rows: list[dict[str, Any]]) -> None:
    """A results blob as written before its metadata said its span: the view reads it to learn it."""
    blobs.put(results.result_batch_name("j", batch), "".join(json.dumps(r) + "\n" for r in rows))


def test_blobs_listed_with_spans_apart_are_not_read_to_be_counted_and_read_once_in_order() -> None:
    blobs, results = stores()
    for p in (2, 0, 3, 1):  # written out of order, each partition's positions apart from the others'
        results.write_result_batch("j", f"p{p:05d}-b00000", [row(i, i) for i in (p * 10 + 2, p * 10, p * 10 + 1)])
    view = JobResults(results, "j")
    assert len(view) == 12 and blobs.reads == []
    assert list(view) == [(f"t{i}", i) for p in range(4) for i in range(p * 10, p * 10 + 3)]
    # Each read once (a few at a time, so in no fixed order between them); the rows above came in order.
    assert sorted(blobs.reads) == [results.result_batch_name("j", f"p{p:05d}-b00000") for p in range(4)]


def test_one_blob_without_a_span_has_every_blob_read_to_learn_where_it_stands() -> None:
    blobs, results = stores()
    results.write_result_batch("j", "p00000-b00000", [row(0, "a"), row(1, "b")])
    unlisted(blobs, results, "p00000-b00001", [row(3, "d"), row(2, "c")])
    results.write_result_batch("j", "p00001-b00000", [row(4, "e")])
    view = JobResults(results, "j")
    assert len(view) == 5 and len(blobs.reads) == 3
    assert list(view) == [(f"t{i}", v) for i, v in enumerate("abcde")]


def test_a_blob_that_does_not_hold_its_listed_span_fails_the_reduce() -> None:
    blobs, results = stores()
    name = results.write_result_batch("j", "p00000-b00000", [row(0), row(1)])
    results.write_result_batch("j", "p00001-b00000", [row(5)])
    data = blobs.get(name)
    blobs.put(name, data, metadata={"first": "0", "last": "1", "tasks": "1"})  # says one task, holds two
    with pytest.raises(ValueError, match="holds 2 tasks, not the 1"):
        list(JobResults(results, "j"))
    blobs.put(name, data, metadata={"first": "1", "last": "1", "tasks": "1"})  # position 0 is outside it
    with pytest.raises(ValueError, match="position 0, outside"):
        list(JobResults(results, "j"))


def test_blobs_beyond_the_keep_budget_are_read_again_not_held() -> None:
    blobs, results = stores()
    for p in range(4):
        unlisted(blobs, results, f"p{p:05d}-b00000", [row(p * 2 + k, "v") for k in range(2)])
    view = JobResults(results, "j", keep_bytes=0)
    assert len(view) == 8
    scans = len(blobs.reads)
    assert [task for task, _ in view] == [f"t{i}" for i in range(8)]
    assert len(blobs.reads) == scans * 2


def test_blobs_within_the_keep_budget_are_read_once_and_kept_compressed() -> None:
    blobs, results = stores()
    for p in range(4):
        unlisted(blobs, results, f"p{p:05d}-b00000", [row(p * 100 + k, "v" * 50) for k in range(100)])
    whole = sum(len(blobs.get(name)) for name in results.list_result_batches("j"))
    blobs.reads.clear()
    # A budget the blobs fit in only compressed: nothing is read twice.
    view = JobResults(results, "j", keep_bytes=whole // 3)
    assert [task for task, _ in view] == [f"t{i}" for i in range(400)]
    assert len(blobs.reads) == 4


def test_a_task_written_twice_is_counted_and_yielded_once() -> None:
    results = ResultStore(MemoryBlobs())
    results.write_result_batch("j", "p00000-b00000", [row(0, "a"), row(1, "b")])
    results.write_result_batch("j", "p00000-b00001", [row(1, "b")])
    view = JobResults(results, "j")
    assert len(view) == 2
    assert list(view) == [("t0", "a"), ("t1", "b")]


def test_no_results_and_the_reduce_input() -> None:
    view = JobResults(ResultStore(MemoryBlobs()), "j", input={"top": 5})
    assert len(view) == 0 and list(view) == []
    assert view.input == {"top": 5}


@pytest.mark.parametrize("listed", [True, False], ids=["with spans", "without"])
def test_blobs_are_read_ahead_while_earlier_ones_are_parsed(listed: bool) -> None:
    """Reads wait on storage: the next blobs' reads are under way together (one at a time, the first read
    here would wait on the barrier for a second that never starts, and fail)."""
    blobs, results = stores()
    for p in range(6):
        if listed:
            results.write_result_batch("j", f"p{p:05d}-b00000", [row(p, "v")])
        else:
            unlisted(blobs, results, f"p{p:05d}-b00000", [row(p, "v")])
    together = threading.Barrier(2, timeout=10)

    class Overlapping:
        def __init__(self) -> None:
            self.reads = 0

        def result_batches(self, job_id: str) -> Iterator[ResultBatch]:
            return results.result_batches(job_id)

        def read_blob(self, name: str) -> bytes:
            self.reads += 1
            if self.reads <= 2:
                together.wait()
            return results.read_blob(name)

    source = Overlapping()
    view = JobResults(source, "j", keep_bytes=0)
    assert [task for task, _ in view] == [f"t{i}" for i in range(6)]
    assert source.reads == (6 if listed else 12) and not together.broken
