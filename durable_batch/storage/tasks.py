"""Task records at about one storage operation per hundred tasks: chunk rows over a `RowStore`.

Rows of a job (PartitionKey = the job id), in row-key order:

``c{partition}-{chunk}``  a chunk of up to 500 tasks (`batch.records`): ``s`` the state codes, ``z0``, ``z1``
                          ... the rest as packed JSON (below)
``f{taskId}``             a task that failed for good: its whole error and its last attempt's result
``i{bucket}``             the id index: which chunk holds each task id (task ids hash to buckets)
``m``                     the job's layout (tasks, chunks, buckets), written last when a job is prepared

A chunk's JSON and an index bucket's are stored packed: compressed with zlib, in base64, split over properties
``z0``, ``z1`` ... (a table property holds 64 KiB). A finished chunk's JSON (ids, attempts, start and end
times) shrinks about five times, and so does the index. That matters beyond bandwidth: Azurite writes its whole
table database to disk every few seconds while it changes, on the thread that serves every request, so the
size of a running million-task job's rows was a pause of a second every five seconds for every reader. Rows
written before rows were packed hold the JSON itself over ``d0``, ``d1`` ...; every read takes both.

Every chunk row is written at prepare (all tasks pending), so the task list shows pending tasks too. The
chunk row is the truth: a failure row or a result row whose chunk does not say so (left by a crash between
two writes) is ignored by every read, and the batch is run again.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import json
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_batch.batch.records import (
    CHUNK_SIZE,
    Chunk,
    TaskEntry,
    TaskUpdate,
    chunk_key,
    counts_of_codes,
    parse_chunk_key,
    state_code,
)
from durable_batch.batch.states import TaskCounts, TaskState
from durable_batch.batch.times import from_ms
from durable_batch.lib.azure_storage.account import ClientOptions, connection_from_settings, get_account
from durable_batch.lib.azure_storage.errors import ConcurrencyConflict, SerializationError
from durable_batch.storage import _json, _tables
from durable_batch.storage._names import check_id
from durable_batch.storage._tokens import decode_token, encode_token
from durable_batch.storage.rows import MAX_COMMIT, Put, Row, RowStore

__all__ = [
    "ERROR_MAX_CHARS",
    "MAX_PAGE_SIZE",
    "TABLE",
    "Failure",
    "TaskPage",
    "TaskRecord",
    "TaskState",
    "TaskStore",
    "truncate_error",
]

TABLE = "BatchTasks"
ERROR_MAX_CHARS = 4000
MAX_PAGE_SIZE = 1000
IDS_PER_BUCKET = 2000
"""Task ids per index row, on average: 500 rows for a job of 1,000,000 tasks."""
CHUNK_PAGE = 50
"""Chunk rows a request fetches when a caller walks every chunk of a job (`iter_chunks`)."""
_PACKED_PIECE = 30_000
"""Characters of base64 per property: a property holds 64 KiB, 32,768 UTF-16 units, and base64 takes one each."""
_PACK_LEVEL = 6
"""zlib's default: a finished chunk of 500 tasks (25 KB of JSON) packs to 5 KB in about 0.35 ms; level 1 packs
it to 6 KB in 0.26 ms."""
_CHUNK_ROUNDS = 50
"""Tries at a chunk row that other processes keep changing, with a random pause of up to 0.32 s between."""
RECENT_SECONDS = 2.0
"""How long a chunk row read by a batch before it ran (`read_chunk(remember=True)`) stays the first guess of
the row that batch's record writes over. A guess still current saves the record a read (a batch of one short
task costs a read, a results blob and a write instead of two reads); a stale one costs only a refused write,
after which the record reads the row as always."""
_COMMIT_CHARS = 1_000_000
"""Characters of new rows per transaction at prepare: at two bytes each, under half the 4 MiB body limit."""
_FAILURES_PER_COMMIT = 40
"""Failure rows in one transaction beside their chunk row, well inside the service's 4 MiB body limit."""


def truncate_error(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a note of what was cut."""
    if len(text) <= limit:
        return text
    template = "\n... [{} characters cut] ...\n"
    head = limit // 4
    # The note is sized for the largest possible count, so the result never exceeds the limit.
    tail = limit - head - len(template.format(len(text)))
    cut = len(text) - head - tail
    return text[:head] + template.format(cut) + text[len(text) - tail :]


@dataclass(frozen=True)
class TaskRecord:
    """One task's record, as the task API shows it."""

    task_id: str
    state: TaskState
    attempts: int = 0
    error: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    partition: int | None = None
    result_batch: int | None = None
    """The result batch (of `partition`) whose blob holds the task's result row; succeeded tasks only."""
    result_json: str | None = None
    """A failed task's last result (a command's exit code and logs), inline."""
    result_blob: str | None = None
    """... or the blob that holds it."""
    position: int | None = None
    """The task's place among its partition's tasks (from 0); known when the record was read alone."""


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRecord]
    continuation_token: str | None
    """Pass it back to get the next page; None on the last page."""


@dataclass(frozen=True)
class Failure:
    """The details of a task that failed for good, kept in its own row."""

    task_id: str
    error: str
    result_json: str | None = None
    result_blob: str | None = None


def _packed(text: bytes) -> dict[str, str]:
    """UTF-8 `text` as the properties of a packed row (see the module)."""
    data = base64.b64encode(zlib.compress(text, _PACK_LEVEL)).decode("ascii")
    return {f"z{i}": data[start : start + _PACKED_PIECE] for i, start in enumerate(range(0, len(data), _PACKED_PIECE))}


def _unpacked(props: Mapping[str, Any], what: str) -> str:
    """The text that `_packed` stored in `props`, or the JSON of a row written before packing."""
    if "z0" not in props:
        return _pieces(props, "d")
    try:
        return zlib.decompress(base64.b64decode(_pieces(props, "z"), validate=True)).decode("utf-8")
    except (ValueError, zlib.error) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise SerializationError(f"{what} is not readable: {exc}") from exc


def _pieces(props: Mapping[str, Any], prefix: str) -> str:
    parts: list[str] = []
    while f"{prefix}{len(parts)}" in props:
        parts.append(str(props[f"{prefix}{len(parts)}"]))
    return "".join(parts)


def _bucket(task_id: str, buckets: int) -> int:
    return zlib.crc32(task_id.encode("utf-8")) % buckets


def _entry_record(entry: TaskEntry) -> TaskRecord:
    return TaskRecord(
        task_id=entry.task_id,
        state=entry.state,
        attempts=entry.attempts,
        error=entry.error_head,
        start_time=from_ms(entry.started_ms),
        end_time=from_ms(entry.ended_ms),
        partition=entry.partition,
        result_batch=entry.batch if entry.state == TaskState.SUCCEEDED else None,
    )


@dataclass
class _Write:
    """One `record` call waiting for its chunk's row: what it applies, and then what came of it."""

    updates: Sequence[TaskUpdate]
    batch: int | None
    failures: Mapping[str, Failure] | None
    before_commit: Callable[[Chunk, list[int]], None] | None
    chunk: Chunk | None = None
    error: BaseException | None = None
    done: bool = False


class TaskStore:
    """Task records of all jobs over one `RowStore`. Thread-safe."""

    def __init__(self, rows: RowStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._rows = rows
        self._clock = clock
        self._recent: dict[tuple[str, str], tuple[float, Row]] = {}
        # Batches of one chunk that end together in one process take turns at its row: without this, all
        # but one of them would lose the ETag race and read, merge and write again (a storm, when dozens of
        # one-task batches of long tasks end at once). Writers in other processes still race, and retry.
        # While one holds the row, the others queue their writes, and the next to get it writes them all at
        # once: one read and one write of the row for every batch that ended meanwhile, not for each.
        self._chunk_locks: dict[tuple[str, str], threading.Lock] = {}
        self._queued: dict[tuple[str, str], list[_Write]] = {}
        self._locks_lock = threading.Lock()
        self._writers: ThreadPoolExecutor | None = None

    def _chunk_lock(self, job_id: str, key: str) -> threading.Lock:
        with self._locks_lock:
            lock = self._chunk_locks.get((job_id, key))
            if lock is None:
                if len(self._chunk_locks) > 10_000:
                    self._chunk_locks.clear()  # bounded; a lock dropped while held is only a lost courtesy
                lock = self._chunk_locks[(job_id, key)] = threading.Lock()
            return lock

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str] | None = None, options: ClientOptions | None = None
    ) -> TaskStore:
        """On the table ``BatchTasks`` of the account in ``AzureWebJobsStorage`` (``os.environ`` when None)."""
        from durable_batch.storage.table_rows import TableRows

        source = os.environ if settings is None else settings
        return cls(TableRows(get_account(connection_from_settings(source), options), TABLE))

    # -- prepare -----------------------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        layout_key: str,
        chunks: Iterable[tuple[int, int, Sequence[str]]],
        total: int | None = None,
    ) -> bool:
        """Write every chunk row (all tasks pending), the id index, and the layout row last.

        `chunks` are (partition, number, task ids); `total` is how many ids they hold, when known: the index's
        buckets are then sized first and each id goes straight into its bucket (a million ids held once, not
        gathered and then regrouped). Returns False, writing nothing, when the layout row says this was done
        for `layout_key` (the spec hash and plan) already: preparing again must not reset the records of a job
        that has started.
        """
        check_id("job id", job_id)
        meta = self._rows.get(job_id, "m")
        if meta is not None and meta.props.get("layout") == layout_key:
            return False
        if total is None:
            listed = [(partition, number, list(ids)) for partition, number, ids in chunks]
            chunks, total = listed, sum(len(ids) for _, _, ids in listed)
        buckets = max(1, math.ceil(total / IDS_PER_BUCKET))
        # Each bucket's index is gathered as its JSON text in UTF-8 (`"id":"chunk",` a task), not as a dict of
        # id strings: a million ids held as dict entries took about 80 MiB of the worker that prepares the job,
        # as bytes 26 (a `StringIO` holds four bytes a character: as much as the dicts).
        grouped = [bytearray() for _ in range(buckets)]
        quoted = json.encoder.encode_basestring
        tasks = count = size = 0
        pending: list[Put] = []
        for partition, number, ids in chunks:
            chunk = Chunk(partition, number, list(ids))
            props = self._chunk_props(chunk)
            weight = sum(len(str(value)) for value in props.values())
            if pending and (len(pending) == MAX_COMMIT or size + weight > _COMMIT_CHARS):
                self._rows.commit(job_id, pending)
                pending, size = [], 0
            pending.append(Put(chunk.key, props))
            size += weight
            entry_end = ":" + quoted(chunk.key) + ","
            for task_id in ids:
                grouped[_bucket(task_id, buckets)] += (quoted(task_id) + entry_end).encode()
            tasks += len(ids)
            count += 1
        if pending:
            self._rows.commit(job_id, pending)
        for start in range(0, buckets, 10):
            # Ten buckets a commit, each freed once written: the index's JSON is never all in memory at once.
            puts = []
            for b in range(start, min(buckets, start + 10)):
                puts.append(Put(f"i{b:05d}", _packed(b"{" + grouped[b][:-1] + b"}")))
                grouped[b] = bytearray()
            self._rows.commit(job_id, puts)
        self._rows.commit(
            job_id, [Put("m", {"layout": layout_key, "tasks": tasks, "chunks": count, "buckets": buckets})]
        )
        return True

    # -- chunks ------------------------------------------------------------------------------------------------

    @staticmethod
    def _chunk_props(chunk: Chunk) -> dict[str, Any]:
        return {"s": chunk.state_codes, **_packed(chunk.body_json().encode())}

    @staticmethod
    def _chunk_of(row: Row) -> Chunk:
        return Chunk.from_parts(str(row.props["s"]), _unpacked(row.props, f"task chunk {row.key}"))

    def read_chunk(self, job_id: str, partition: int, number: int, *, remember: bool = False) -> Chunk | None:
        """The chunk as stored, or None. With `remember`, a `record` of the chunk soon after (a batch's, once
        its tasks ran) first tries to write over the row read here (see `RECENT_SECONDS`)."""
        key = chunk_key(partition, number)
        row = self._rows.get(job_id, key)
        if row is None:
            return None
        if remember:
            with self._locks_lock:
                if len(self._recent) > 1_000:
                    self._recent.clear()  # bounded: batches that never recorded leave theirs behind
                self._recent[(job_id, key)] = (self._clock(), row)
        return self._chunk_of(row)

    def _recent_row(self, job_id: str, key: str) -> Row | None:
        with self._locks_lock:
            read = self._recent.pop((job_id, key), None)
        return read[1] if read is not None and self._clock() - read[0] <= RECENT_SECONDS else None

    def record(
        self,
        job_id: str,
        partition: int,
        number: int,
        updates: Sequence[TaskUpdate],
        *,
        batch: int | None = None,
        failures: Mapping[str, Failure] | None = None,
        before_commit: Callable[[Chunk, list[int]], None] | None = None,
    ) -> Chunk:
        """Apply `updates` to a chunk by the no-downgrade rule and write it; returns the chunk as stored.

        With `batch`, the updates are that result batch's: a batch already applied (run again after a crash)
        changes nothing. `failures` holds the details of tasks that failed for good, by task id; their rows
        are written with the chunk (only for tasks the chunk then records as failed). `before_commit(chunk,
        changed)` runs after the merge and before the chunk is written: the results blob goes there, so a
        task recorded as succeeded always has its result in place. A writer that raced this one makes it read,
        merge and write again.
        """
        key = chunk_key(partition, number)
        mine = _Write(updates, batch, failures, before_commit)
        with self._locks_lock:
            self._queued.setdefault((job_id, key), []).append(mine)
        with self._chunk_lock(job_id, key):
            if not mine.done:
                # Its turn: it writes every write queued for the row meanwhile, its own among them.
                with self._locks_lock:
                    group = self._queued.pop((job_id, key), [])
                try:
                    chunk = self._record(job_id, key, group)
                except BaseException as exc:
                    for write in group:
                        write.error, write.done = exc, True
                else:
                    for write in group:
                        write.chunk, write.done = chunk, True
        if mine.error is not None:
            raise mine.error
        assert mine.chunk is not None
        return mine.chunk

    def _record(self, job_id: str, key: str, group: Sequence[_Write]) -> Chunk:
        guess = self._recent_row(job_id, key)
        for attempt in range(_CHUNK_ROUNDS):
            row = guess or self._rows.get(job_id, key)
            if row is None:
                raise SerializationError(f"job {job_id!r} has no task chunk {key}: was it prepared, or deleted?")
            chunk = self._chunk_of(row)
            applied: list[tuple[_Write, list[int]]] = []
            for write in group:
                if write.batch is not None and write.batch in chunk.done:
                    continue  # run again after a crash: it changes nothing
                applied.append((write, chunk.apply(write.updates)))
                if write.batch is not None:
                    chunk.done.append(write.batch)
            if not applied:
                return chunk
            self._before_commit(chunk, [(w.before_commit, changed) for w, changed in applied if w.before_commit])
            details = [p for w, changed in applied for p in self._failure_puts(chunk, changed, w.failures or {})]
            # A guess that was stale lost no race: the read that follows needs no pause first.
            if not self._write_chunk(job_id, key, chunk, row.etag, details, attempt, pause=guess is None):
                guess = None
                continue
            return chunk
        raise ConcurrencyConflict(f"task chunk {key} of job {job_id!r} kept changing; retry the write")

    def _write_chunk(
        self, job_id: str, key: str, chunk: Chunk, etag: str, details: list[Put], attempt: int, *, pause: bool = True
    ) -> bool:
        """Write the chunk row with its failure rows while the stored row still has `etag` (`"absent"`: there is
        none); False when another writer changed it first (after a pause that grows with `attempt`, unless
        `pause` is False)."""
        # Failure rows that do not fit beside the chunk go first: a crash then leaves rows that the chunk does
        # not confirm, which every read ignores.
        while len(details) > _FAILURES_PER_COMMIT:
            self._rows.commit(job_id, details[:_FAILURES_PER_COMMIT])
            details = details[_FAILURES_PER_COMMIT:]
        try:
            self._rows.commit(job_id, [Put(key, self._chunk_props(chunk), if_match=etag), *details])
        except ConcurrencyConflict:
            if pause:
                _tables.back_off(min(attempt, 5))
            return False
        return True

    def _before_commit(self, chunk: Chunk, calls: list[tuple[Callable[[Chunk, list[int]], None], list[int]]]) -> None:
        """Run each write's `before_commit` on the chunk about to be written: side by side when there are
        several (each writes a blob of its own)."""
        if len(calls) == 1:
            call, changed = calls[0]
            call(chunk, changed)
            return
        with self._locks_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="task-results")
            writers = self._writers
        # Each in the caller's context, so the storage requests count into its meter
        # (`durable_batch.lib.azure_storage.metering`).
        for future in [writers.submit(contextvars.copy_context().run, call, chunk, changed) for call, changed in calls]:
            future.result()

    def mark_lost(
        self,
        job_id: str,
        partition: int,
        number: int,
        ids: Sequence[str],
        indexes: Sequence[int],
        error: str,
        *,
        run: int = 1,
        ended_ms: int | None = None,
    ) -> Chunk:
        """Record the tasks at `indexes` of a chunk as failed with `error`, whatever their records say
        (`Chunk.lose`): the audit of a job that ended found their records or results lost by storage. A chunk
        row that is gone, or holds other tasks than `ids` (its tasks as prepared), is written again from `ids`.
        Returns the chunk as stored."""
        key = chunk_key(partition, number)
        with self._chunk_lock(job_id, key):
            for attempt in range(_CHUNK_ROUNDS):
                row = self._rows.get(job_id, key)
                chunk = None if row is None else self._chunk_of(row)
                if chunk is None or chunk.ids != list(ids):
                    chunk = Chunk(partition, number, list(ids))
                for i in indexes:
                    chunk.lose(i, error, ended_ms, run)
                failures = {chunk.ids[i]: Failure(chunk.ids[i], error) for i in indexes}
                details = self._failure_puts(chunk, list(indexes), failures)
                etag = "absent" if row is None else row.etag
                if not self._write_chunk(job_id, key, chunk, etag, details, attempt):
                    continue
                return chunk
        raise ConcurrencyConflict(f"task chunk {key} of job {job_id!r} kept changing; retry the write")

    def close_open(self, job_id: str, running: TaskState, error: str, *, ended_ms: int | None = None) -> TaskCounts:
        """Settle every task of the job still open, for a job whose orchestration ended without doing so (it
        was terminated from outside, or failed): pending ones as skipped, running ones as `running` (cancelled
        or failed, with `error`). Returns the job's counts as recorded then, every task finished.

        Cost: the state codes of every chunk, and a write of each chunk with an open task. A batch still
        running that ends later cannot change a task settled here (`durable_batch.batch.records`: finished stays
        finished).
        """
        check_id("job id", job_id)
        for light in self._rows.range(job_id, "c", "d", select=["s"]):
            if not any(code in str(light.props["s"]) for code in ("p", "r")):
                continue
            partition, number = parse_chunk_key(light.key)
            chunk = self.read_chunk(job_id, partition, number)
            if chunk is None:
                continue
            updates: list[TaskUpdate] = []
            failures: dict[str, Failure] = {}
            for i in range(len(chunk)):
                state, run = chunk.state(i), chunk.runs[i]
                if state == TaskState.PENDING:
                    updates.append(TaskUpdate(i, TaskState.SKIPPED, chunk.attempts[i], run=run))
                elif state == TaskState.RUNNING:
                    updates.append(TaskUpdate(i, running, chunk.attempts[i], ended_ms=ended_ms, error=error, run=run))
                    failures[chunk.ids[i]] = Failure(chunk.ids[i], error)
            self.record(job_id, partition, number, updates, failures=failures)
        return self.counts(job_id)

    @staticmethod
    def _failure_puts(chunk: Chunk, changed: list[int], failures: Mapping[str, Failure]) -> list[Put]:
        puts: list[Put] = []
        for i in changed:
            task_id = chunk.ids[i]
            failure = failures.get(task_id)
            if failure is None or chunk.state(i) != TaskState.FAILED:
                continue
            props: dict[str, Any] = {"chunk": chunk.key, "error": truncate_error(failure.error)}
            if failure.result_json is not None:
                props["result"] = failure.result_json
            if failure.result_blob is not None:
                props["resultBlob"] = failure.result_blob
            puts.append(Put(f"f{task_id}", props))
        return puts

    def reopen(self, job_id: str, run: int) -> tuple[list[int], TaskCounts]:
        """Start run `run` of a job that ended: every task that did not succeed goes back to pending, as run
        `run`'s (`durable_batch.batch.records`). Returns the partitions that have such tasks, in order, and the counts
        of all other partitions (every task of them succeeded).

        Cost: the state codes of every chunk (2,000 light reads for a million tasks), and a read and a write
        of each chunk with a task to re-run, once. Repeating it changes nothing more.
        """
        check_id("job id", job_id)
        reopened: list[int] = []
        by_partition: dict[int, TaskCounts] = {}
        for light in self._rows.range(job_id, "c", "d", select=["s"]):
            codes = str(light.props["s"])
            partition, number = parse_chunk_key(light.key)
            by_partition[partition] = by_partition.get(partition, TaskCounts()) + counts_of_codes(codes)
            again = [i for i, code in enumerate(codes) if code != state_code(TaskState.SUCCEEDED)]
            if again:
                self.record(job_id, partition, number, [TaskUpdate(i, TaskState.PENDING, 0, run=run) for i in again])
                if not reopened or reopened[-1] != partition:
                    reopened.append(partition)
        kept, again_in = TaskCounts(), set(reopened)
        for partition, counts in by_partition.items():
            if partition not in again_in:
                kept = kept + counts
        return reopened, kept

    # -- reads -------------------------------------------------------------------------------------------------

    def _locate(self, job_id: str, task_id: str) -> str | None:
        meta = self._rows.get(job_id, "m")
        if meta is None:
            return None
        buckets = int(meta.props["buckets"])
        row = self._rows.get(job_id, f"i{_bucket(task_id, buckets):05d}")
        if row is None:
            return None
        what = f"the id index of job {job_id!r}"
        index = _json.loads(_unpacked(row.props, what), what)
        found = index.get(task_id)
        return found if isinstance(found, str) else None

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        """One task's record (a failed one with its whole error and last result), or None."""
        check_id("job id", job_id)
        check_id("task id", task_id)
        key = self._locate(job_id, task_id)
        row = self._rows.get(job_id, key) if key is not None else None
        if row is None:
            return None
        chunk = self._chunk_of(row)
        index = chunk.ids.index(task_id)
        record = dataclasses.replace(_entry_record(chunk.entry(index)), position=chunk.number * CHUNK_SIZE + index)
        if record.state == TaskState.FAILED:
            failure = self._rows.get(job_id, f"f{task_id}")
            if failure is not None:
                record = TaskRecord(
                    **{
                        **record.__dict__,
                        "error": failure.props.get("error", record.error),
                        "result_json": failure.props.get("result"),
                        "result_blob": failure.props.get("resultBlob"),
                    }
                )
        return record

    def partition_size(self, job_id: str) -> int | None:
        """The partition size the job's records were laid out with (its tasks' places depend on it), or None
        before the job has started."""
        check_id("job id", job_id)
        meta = self._rows.get(job_id, "m")
        layout = str(meta.props.get("layout", "")) if meta is not None else ""
        size = layout.rpartition(":")[2]
        return int(size) if size.isdigit() else None

    def query_tasks(
        self,
        job_id: str,
        state: TaskState | str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> TaskPage:
        """One page of the job's tasks in task order (partition by partition), optionally only those in
        ``state``. ``continuation_token`` is None exactly on the last page; a token is valid only for the
        same job and state.

        Cost: it reads the state codes of the chunks it passes (500 tasks per row) and the whole rows of the
        chunks it takes tasks from; failed tasks come from their own rows, so the failures of a job of a
        million tasks are listed without reading its chunks.
        """
        check_id("job id", job_id)
        wanted = TaskState(state) if state is not None else None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        scope = {"kind": "tasks", "job": job_id, "state": wanted.value if wanted else None}
        after = decode_token(continuation_token, scope) if continuation_token is not None else None
        if wanted == TaskState.FAILED:
            return self._failed_page(job_id, page_size, after, scope)
        start_key, start_at = ("c", 0)
        if after is not None:
            key_text, _, offset = after.partition(":")
            start_key, start_at = key_text, int(offset or 0)
        code = state_code(wanted) if wanted is not None else None
        records: list[TaskRecord] = []
        for light in self._rows.range(job_id, start_key, "d", select=["s"]):
            codes = str(light.props["s"])
            first = start_at if light.key == start_key else 0
            hits = [i for i in range(first, len(codes)) if code is None or codes[i] == code]
            if not hits:
                continue
            row = self._rows.get(job_id, light.key)
            if row is None:
                continue
            chunk = self._chunk_of(row)
            for i in hits:
                if code is not None and chunk.codes[i] != code:
                    continue  # changed since the codes were read
                if len(records) == page_size:
                    token = encode_token(scope, f"{light.key}:{i}")
                    return TaskPage(records, token)
                records.append(_entry_record(chunk.entry(i)))
        return TaskPage(records, None)

    def _failed_page(self, job_id: str, page_size: int, after: str | None, scope: dict[str, Any]) -> TaskPage:
        records: list[TaskRecord] = []
        chunks: dict[str, Chunk | None] = {}
        low = f"f{after}\x00" if after is not None else "f"
        for row in self._rows.range(job_id, low, "g"):
            key = str(row.props.get("chunk", ""))
            if key not in chunks:
                stored = self._rows.get(job_id, key)
                chunks[key] = None if stored is None else self._chunk_of(stored)
            chunk = chunks[key]
            task_id = row.key[1:]
            if chunk is None or task_id not in chunk.ids:
                continue
            entry = chunk.entry(chunk.ids.index(task_id))
            if entry.state != TaskState.FAILED:
                continue  # a row a crash left before its chunk was written
            if len(records) == page_size:
                return TaskPage(records, encode_token(scope, records[-1].task_id))
            records.append(
                TaskRecord(
                    **{
                        **_entry_record(entry).__dict__,
                        "error": row.props.get("error", entry.error_head),
                        "result_json": row.props.get("result"),
                        "result_blob": row.props.get("resultBlob"),
                    }
                )
            )
        return TaskPage(records, None)

    def iter_tasks(self, job_id: str, state: TaskState | str | None = None) -> Iterator[TaskRecord]:
        """All of the job's task records (optionally in one state), fetched lazily a page at a time."""
        token: str | None = None
        while True:
            page = self.query_tasks(job_id, state, MAX_PAGE_SIZE, token)
            yield from page.records
            token = page.continuation_token
            if token is None:
                return

    def iter_chunks(self, job_id: str) -> Iterator[Chunk]:
        """Every chunk of the job in task order, fetched lazily (2,000 rows for a million tasks): for
        summaries that must see every task without building a record for each."""
        check_id("job id", job_id)
        # A chunk row holds up to 500 tasks' records: a request's page of 1,000 of them was tens of MiB held at
        # once (the audit at a million-task job's end); 50 a request keeps it to about a MiB.
        for row in self._rows.range(job_id, "c", "d", page=CHUNK_PAGE):
            yield self._chunk_of(row)

    def counts(self, job_id: str) -> TaskCounts:
        """The job's tasks by state, exact: it reads the state codes of every chunk (2,000 rows for a
        million tasks)."""
        check_id("job id", job_id)
        codes = "".join(str(row.props["s"]) for row in self._rows.range(job_id, "c", "d", select=["s"]))
        return counts_of_codes(codes)

    def count_by_state(self, job_id: str) -> dict[TaskState, int]:
        """`counts` by state (every state present, zeros included)."""
        counts = self.counts(job_id)
        return {state: getattr(counts, state.value) for state in TaskState}

    # -- deletion ----------------------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> int:
        """Delete every row of the job. Returns how many. Idempotent."""
        check_id("job id", job_id)
        return self._rows.delete_partition(job_id)
