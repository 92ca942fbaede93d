"""REDUCE: the job's reduce handler over all its results, read lazily.

`JobResults` is the `ResultsView` a reduce handler gets. The results are the rows of the job's results blobs
(`results/*.jsonl` in its folder, one per batch of tasks, each sorted by task position) and, for a task whose
result was too large to travel inline, its own `result.json`, read only when the iteration reaches it.

Iteration is in task order. Each results blob says in its metadata the span of task positions it holds
(`durable_batch.storage.results.ResultSpan`). When the listing gives every blob's span and none overlaps another
(every first run of a job), `len` is their tasks summed, nothing read, and iteration goes blob after blob in
span order, each parsed once; a blob that does not hold its span fails the reduce. Otherwise (blobs written
before spans, or a re-run's blobs beside the first run's) the blobs are first scanned once to learn each one's
smallest task position and row count (that is also `len`); then they are merged, and a blob is opened only when
the merge reaches its smallest position. Memory holds the blobs whose position ranges overlap the current one:
about a partition's worth of rows when partitions are contiguous ranges (jobs without dependencies, or with local
ones), however large the job. Either way, blobs read while their total stays under `KEEP_BYTES` are kept as
their bytes compressed (zlib's fastest level: result rows shrink about sevenfold, in 0.2 ms a blob of 500, so a
million short results are kept whole and no blob is read twice) and parsed when the iteration reaches them
(parsed rows take about ten times the bytes, so 16 MiB of them held 100 MiB and more until the reduce ended).
They are read before the first row is handed out, a few ahead (`READ_AHEAD`), so storage's latency is spent
while the rows before are parsed and the reading threads do not wait for the interpreter's lock behind the
handler's loop; blobs past the budget are read a few ahead as the iteration reaches them.

The reduce spec's `input` is passed as `results.input` (None when the spec has none), so a reduce handler
keeps the one-parameter form `def summarize(results)`; the handler's `ctx`, if it asks for one, has task id
`"reduce"` and attempt 1. The reduce has no time limit of its own: the job's wall clock bounds the job.
"""

from __future__ import annotations

import heapq
import itertools
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from durable_batch.activities.outcomes import ResultNotJson, ResultTooLarge, describe_exception, measured_json
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.handlers import TaskContext
from durable_batch.lib.azure_storage.errors import StorageError
from durable_batch.lib.json_lines import decode_lines
from durable_batch.storage.results import ResultBatch, ResultSpan

__all__ = ["KEEP_BYTES", "REDUCE_TASK_ID", "JobResults", "ResultsSource", "reduce_job"]

KEEP_BYTES = 16 * 1024 * 1024
READ_AHEAD = 4
"""Results blobs read ahead of the one being parsed, on threads of their own: a read waits on storage, a parse on
the CPU, and a million tasks' reduce spent half its time waiting for two thousand reads one after another."""
REDUCE_TASK_ID = "reduce"


class ResultsSource(Protocol):
    """The part of `durable_batch.storage.results.ResultStore` a `JobResults` reads."""

    def result_batches(self, job_id: str) -> Iterator[ResultBatch]: ...

    def read_blob(self, blob_name: str) -> bytes: ...


@dataclass(frozen=True)
class _Blob:
    name: str
    first: int  # smallest task position in the blob
    rows: int


def _parse_rows(name: str, data: bytes) -> list[dict[str, Any]]:
    rows = decode_lines(data)
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("index"), int) or "id" not in row:
            raise ValueError(f"results blob {name} has a row that is not a task result: {str(row)[:200]}")
    rows.sort(key=lambda row: int(row["index"]))
    return rows


def _read_ahead(read: Callable[[str], bytes], names: Iterable[str], depth: int) -> Iterator[tuple[str, bytes]]:
    """`(name, read(name))` in the order of `names`, with up to `depth` reads under way ahead of the consumer
    (memory: at most `depth` + 1 blobs read and not yet consumed)."""
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="results-read") as pool:
        window: deque[tuple[str, Future[bytes]]] = deque()
        for name in names:
            window.append((name, pool.submit(read, name)))
            if len(window) > depth:
                first, reading = window.popleft()
                yield first, reading.result()
        while window:
            first, reading = window.popleft()
            yield first, reading.result()


class JobResults:
    """A job's results as a `durable_batch.batch.handlers.ResultsView`: `(task id, result)` of every succeeded task in
    task
    order, lazily; `len` is the number of distinct tasks with a result. See the module for the cost."""

    def __init__(self, source: ResultsSource, job_id: str, input: Any = None, keep_bytes: int = KEEP_BYTES) -> None:
        self.job_id = job_id
        self.input = input
        """The reduce spec's `input`, unchanged."""
        self._source = source
        self._keep_bytes = keep_bytes
        self._blobs: list[_Blob] | None = None
        self._spans: dict[str, ResultSpan] | None = None
        """The blobs' spans, in position order, when their listing said each one's and none overlaps another:
        the blobs are then read once, one after another, and never merged."""
        self._kept: dict[str, bytes] = {}
        self._kept_bytes = 0
        self._count = 0

    def _scan(self) -> list[_Blob]:
        if self._blobs is None:
            listed = list(self._source.result_batches(self.job_id))
            spans = {batch.name: batch.span for batch in listed if batch.span is not None}
            ordered = sorted(spans.items(), key=lambda item: (item[1].first, item[0]))
            if len(spans) == len(listed) and all(a.last < b.first for (_, a), (_, b) in itertools.pairwise(ordered)):
                self._blobs = [_Blob(name, span.first, span.tasks) for name, span in ordered]
                self._spans = dict(ordered)
                self._count = sum(span.tasks for span in spans.values())
            else:
                self._blobs = self._read_scan([batch.name for batch in listed])
        return self._blobs

    def _read_scan(self, names: list[str]) -> list[_Blob]:
        """Every blob read, for the smallest position each holds and the tasks they hold in all (kept
        compressed while they fit, so the merge need not read them again)."""
        blobs: list[_Blob] = []
        seen = bytearray()
        count = 0
        for name, data in _read_ahead(self._source.read_blob, names, READ_AHEAD):
            rows = _parse_rows(name, data)
            if not rows:
                continue
            for row in rows:
                i = int(row["index"])
                if i >= len(seen):
                    seen.extend(bytes(max(i + 1 - len(seen), len(seen))))
                if not seen[i]:
                    seen[i] = 1
                    count += 1
            blobs.append(_Blob(name, int(rows[0]["index"]), len(rows)))
            self._hold(name, data)
        blobs.sort(key=lambda blob: (blob.first, blob.name))
        self._count = count
        return blobs

    def __len__(self) -> int:
        self._scan()
        return self._count

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        blobs = self._scan()
        if self._spans is not None:
            yield from self._in_order(self._spans)
            return
        # Blobs are opened in `blobs` order, so those not kept can be read ahead in that order.
        ahead = _read_ahead(self._source.read_blob, (b.name for b in blobs if b.name not in self._kept), READ_AHEAD)
        heap: list[tuple[int, int, dict[str, Any], Iterator[dict[str, Any]]]] = []
        opened = 0
        last: int | None = None
        while True:
            # Open every blob that may hold the next position before taking the smallest row.
            while opened < len(blobs) and (not heap or blobs[opened].first <= heap[0][0]):
                rows = iter(self._rows_of(blobs[opened].name, ahead))
                first = next(rows, None)
                if first is not None:
                    heapq.heappush(heap, (int(first["index"]), opened, first, rows))
                opened += 1
            if not heap:
                return
            index, seq, row, rows = heap[0]
            following = next(rows, None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (int(following["index"]), seq, following, rows))
            if index == last:
                continue  # the same task written twice (a partition run again): once is enough
            last = index
            yield str(row["id"]), self._value(row)

    def _in_order(self, spans: dict[str, ResultSpan]) -> Iterator[tuple[str, Any]]:
        """The rows of blobs whose spans do not overlap, one blob after another. The blobs are read before the
        first row, kept compressed while they fit (`_keep`): reads then wait on storage while this thread waits
        too, not behind the handler's loop for the interpreter's lock. A blob that does not hold what its
        listing said is an error, never a result out of order or a task counted wrong."""
        self._keep(list(spans))
        ahead = _read_ahead(self._source.read_blob, (name for name in spans if name not in self._kept), READ_AHEAD)
        for name, span in spans.items():
            last: int | None = None
            tasks = 0
            for row in self._rows_of(name, ahead):
                index = int(row["index"])
                if index == last:
                    continue  # the same task written twice in one blob: once is enough, as in the merge
                if not span.first <= index <= span.last:
                    raise ValueError(f"results blob {name} holds task position {index}, outside its listed span")
                last = index
                tasks += 1
                yield str(row["id"]), self._value(row)
            if tasks != span.tasks:
                raise ValueError(f"results blob {name} holds {tasks} tasks, not the {span.tasks} of its listed span")

    def _keep(self, names: list[str]) -> None:
        """Read the blobs not kept yet, in order, and keep each (`_hold`) while they fit."""
        todo = [name for name in names if name not in self._kept]
        if self._kept_bytes >= self._keep_bytes or not todo:
            return
        for name, data in _read_ahead(self._source.read_blob, todo, READ_AHEAD):
            if not self._hold(name, data):
                break  # this one and the rest are read as they are reached

    def _hold(self, name: str, data: bytes) -> bool:
        """Keep a blob's bytes compressed when they fit in what is left of `keep_bytes`; whether they did."""
        if self._kept_bytes >= self._keep_bytes:
            return False
        packed = zlib.compress(data, 1)
        if self._kept_bytes + len(packed) > self._keep_bytes:
            return False
        self._kept[name] = packed
        self._kept_bytes += len(packed)
        return True

    def _rows_of(self, name: str, ahead: Iterator[tuple[str, bytes]]) -> list[dict[str, Any]]:
        packed = self._kept.get(name)
        if packed is not None:
            return _parse_rows(name, zlib.decompress(packed))
        read, data = next(ahead)
        assert read == name, (read, name)  # both walk `blobs` in order
        return _parse_rows(name, data)

    def _value(self, row: dict[str, Any]) -> Any:
        blob = row.get("resultBlob")
        if blob:
            return json.loads(self._source.read_blob(str(blob)))
        return row.get("result")


def reduce_job(services: Services, specs: SpecCache, data: dict[str, Any]) -> wire.ReduceOutcome:
    """Run the job's reduce handler over `JobResults`; write its output to `reduce.json` in the job's folder, return it
    inline too when small. A failure (no such handler, an exception, output that isn't JSON) is returned as
    `ok: false`: the job then ends failed with the error as its reason."""
    job_id = str(data["jobId"])
    spec = specs.get(job_id, str(data["specHash"])).spec
    if spec.reduce is None:
        return {"ok": False, "error": f"job {job_id!r} has no reduce step"}
    handler = services.handlers.get(spec.reduce.handler)
    if handler is None:
        return {
            "ok": False,
            "error": f"HandlerNotFound: no reduce handler named {spec.reduce.handler!r} is registered in this app",
        }
    view = JobResults(services.results, job_id, spec.reduce.input)
    try:
        output = handler(view, TaskContext(job_id=job_id, task_id=REDUCE_TASK_ID, attempt=1))
        text = measured_json(output, services.settings.max_result_bytes, "the reduce output")
    except ResultNotJson as exc:
        return {"ok": False, "error": f"ResultNotJson: the reduce output: {exc}"}
    except ResultTooLarge as exc:
        return {"ok": False, "error": f"ResultTooLarge: {exc}"}
    except Exception as exc:
        return {"ok": False, "error": describe_exception(exc)}
    try:
        blob = services.results.write_reduce_output(job_id, output)
    except StorageError as exc:
        # Raising would fail the job's orchestration with no record of why; a failed reduce ends the job.
        return {"ok": False, "error": f"{type(exc).__name__}: could not store the reduce output: {exc}"}
    outcome: wire.ReduceOutcome = {"ok": True, "resultBlob": blob}
    if len(text.encode("utf-8")) <= wire.INLINE_RESULT_LIMIT:
        outcome["result"] = json.loads(text)
    return outcome
