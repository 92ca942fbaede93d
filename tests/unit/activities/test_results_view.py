"""JobResults, the ResultsView a reduce handler gets: task order across blobs, lazy large results, len."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from durable_batch.activities.reduce import JobResults
from durable_batch.storage import MemoryBlobs, ResultStore

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


def test_blobs_beyond_the_keep_budget_are_read_again_not_held() -> None:
    blobs, results = stores()
    for p in range(4):
        results.write_result_batch("j", f"p{p:05d}-b00000", [row(p * 2 + k, "v") for k in range(2)])
    view = JobResults(results, "j", keep_bytes=0)
    assert len(view) == 8
    scans = len(blobs.reads)
    assert [task for task, _ in view] == [f"t{i}" for i in range(8)]
    assert len(blobs.reads) == scans * 2


def test_blobs_within_the_keep_budget_are_read_once_and_kept_compressed() -> None:
    blobs, results = stores()
    for p in range(4):
        results.write_result_batch("j", f"p{p:05d}-b00000", [row(p * 100 + k, "v" * 50) for k in range(100)])
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


def test_blobs_are_read_ahead_while_earlier_ones_are_parsed() -> None:
    """Reads wait on storage: the next blobs' reads are under way together (one at a time, the first read
    here would wait on the barrier for a second that never starts, and fail)."""
    results = ResultStore(MemoryBlobs())
    for p in range(6):
        results.write_result_batch("j", f"p{p:05d}-b00000", [row(p, "v")])
    together = threading.Barrier(2, timeout=10)

    class Overlapping:
        def __init__(self) -> None:
            self.reads = 0

        def list_result_batches(self, job_id: str) -> Iterator[str]:
            return results.list_result_batches(job_id)

        def read_blob(self, name: str) -> bytes:
            self.reads += 1
            if self.reads <= 2:
                together.wait()
            return results.read_blob(name)

    source = Overlapping()
    view = JobResults(source, "j", keep_bytes=0)
    assert [task for task, _ in view] == [f"t{i}" for i in range(6)]
    assert source.reads == 12 and not together.broken
