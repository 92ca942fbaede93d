"""The job index over a `RowStore`: one record per job, listed newest first and by state, with paging.

On Azure, table ``BatchJobs`` (`storage.table_rows`); in memory for tests (`storage.rows.MemoryRows`). Each
job has three rows, all in the partition ``jobs`` so that one commit updates them together:

``id|{jobId}``                          the lookup row (get by id)
``all|{inverted}|{jobId}``              newest first over all jobs
``state|{state}|{inverted}|{jobId}``    newest first within one state; moved when the state changes

``{inverted}`` is ``9999999999999`` minus the creation time in epoch milliseconds, 13 digits, so that RowKey
order (the only order Table Storage returns) is newest first; the job id breaks ties. Each row carries the whole
record, so listing needs no second lookup. One partition serves about 2,000 writes per second, plenty for job
records, which change a few times per job (its task counts at most every few seconds).

The merge rule matches the task records': a write whose state ranks below the stored one
(`durable_batch.batch.states.job_write_applies`: within a run, pending 0, running 1, cancelling 2, finished 3; a write
of a later run, a re-run, always applies and one of an earlier run never does) is skipped, so a late
"running" never overwrites "succeeded", nor hides a requested cancellation that activities poll for
(``cancelling``: command tasks of the job are killed). An applied write keeps stored values for the properties
it leaves as None, and the creation time never changes. Writes are conditioned on the lookup row's ETag and
retried when another writer got in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from durable_batch.batch.spec import DEFAULT_POOL
from durable_batch.batch.states import JOB_STATE_RANK, JobState, TaskCounts, job_write_applies
from durable_batch.batch.times import as_utc
from durable_batch.lib.azure_storage.account import ClientOptions, connection_from_settings, get_account
from durable_batch.lib.azure_storage.errors import ConcurrencyConflict
from durable_batch.storage import _tables
from durable_batch.storage._names import check_id
from durable_batch.storage._tokens import decode_token, encode_token
from durable_batch.storage.results import CURRENT_LAYOUT
from durable_batch.storage.rows import Delete, Operation, Put, Row, RowStore
from durable_batch.storage.tasks import ERROR_MAX_CHARS, truncate_error

__all__ = ["JOB_STATE_RANK", "RECENT_JOBS", "TABLE", "JobPage", "JobRecord", "JobState", "JobStore", "TaskCounts"]

TABLE = "BatchJobs"
_PARTITION = "jobs"
_MAX_INVERTED = 9_999_999_999_999
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class JobRecord:
    """A job's index record. On writes, None means "leave the stored value"; task counts are always written."""

    job_id: str
    state: JobState
    created: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    task_counts: TaskCounts = field(default_factory=TaskCounts)
    spec_hash: str | None = None
    reason: str | None = None
    max_parallel_tasks: int | None = None
    """The job's cap as in effect: its spec's, or the last `PATCH`'s."""
    tolerated_failure_percentage: float | None = None
    disable_tasks: str | None = None
    """While `disabled`: what happens to running tasks, `wait` or `requeue`."""
    controls: int | None = None
    """How many control events (live changes) the job API has raised on the job's orchestration."""
    run: int | None = None
    """The job's run (`durable_batch.batch.runs`): 1 as submitted, one more for each re-run."""
    runs: tuple[dict[str, Any], ...] | None = None
    """The runs as `durable_batch.batch.runs` keeps them (empty until the first re-run)."""
    pool_id: str | None = None
    """The pool the job's tasks run in (its spec's `poolInfo.poolId`; None for jobs from before pools)."""
    priority: int | None = None
    """The job's priority: its spec's, or the last `PATCH`'s."""
    priority_version: int | None = None
    """When that `PATCH` was made, in ms: the pool entity keeps the newest priority it is told."""
    layout: int | None = None
    """Where the job's files are (`durable_batch.storage.results`): a record created here gets the current layout; one
    read
    without it was created before layouts were recorded (the old layout)."""

    def __post_init__(self) -> None:
        check_id("job id", self.job_id)
        object.__setattr__(self, "state", JobState(self.state))
        object.__setattr__(self, "created", as_utc(self.created))
        if self.reason is not None and len(self.reason) > ERROR_MAX_CHARS:
            object.__setattr__(self, "reason", truncate_error(self.reason))

    @property
    def rank(self) -> int:
        return JOB_STATE_RANK[self.state]

    @property
    def pool(self) -> str:
        """The pool the job's tasks run in: the default pool for a job from before pools."""
        return self.pool_id or DEFAULT_POOL


@dataclass(frozen=True)
class JobPage:
    records: list[JobRecord]
    continuation_token: str | None
    """Pass it back to get the next page; None on the last page."""


def _time(value: Any) -> datetime | None:
    return as_utc(value) if isinstance(value, datetime) else None


def _index_key(created: datetime, job_id: str) -> str:
    millis = int(created.timestamp() * 1000)
    return f"{_MAX_INVERTED - millis:013d}|{job_id}"


_COUNT_PROPERTIES = {f.name: "count" + f.name.capitalize() for f in fields(TaskCounts)}


def _properties(record: JobRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "jobId": record.job_id,
        "state": record.state.value,
        "stateRank": record.rank,
        "created": record.created,
        "startTime": as_utc(record.start_time) if record.start_time else None,
        "endTime": as_utc(record.end_time) if record.end_time else None,
        "specHash": record.spec_hash,
        "reason": record.reason,
        "maxParallelTasks": record.max_parallel_tasks,
        "toleratedFailurePercentage": record.tolerated_failure_percentage,
        "disableTasks": record.disable_tasks,
        "controls": record.controls,
        "run": record.run,
        "runs": json.dumps(list(record.runs), separators=(",", ":")) if record.runs is not None else None,
        "poolId": record.pool_id,
        "priority": record.priority,
        "priorityVersion": record.priority_version,
        "layout": record.layout,
    }
    values.update({prop: getattr(record.task_counts, name) for name, prop in _COUNT_PROPERTIES.items()})
    return {key: value for key, value in values.items() if value is not None}


def _from_props(entity: Mapping[str, Any]) -> JobRecord:
    created = _time(entity.get("created")) or datetime.fromtimestamp(0, tz=UTC)
    counts = TaskCounts(**{name: int(entity.get(prop, 0)) for name, prop in _COUNT_PROPERTIES.items()})
    return JobRecord(
        job_id=entity["jobId"],
        state=JobState(entity["state"]),
        created=created,
        start_time=_time(entity.get("startTime")),
        end_time=_time(entity.get("endTime")),
        task_counts=counts,
        spec_hash=entity.get("specHash"),
        reason=entity.get("reason"),
        max_parallel_tasks=_int_or_none(entity.get("maxParallelTasks")),
        tolerated_failure_percentage=_number_or_none(entity.get("toleratedFailurePercentage")),
        disable_tasks=entity.get("disableTasks"),
        controls=_int_or_none(entity.get("controls")),
        run=_int_or_none(entity.get("run")),
        runs=_runs(entity.get("runs")),
        pool_id=entity.get("poolId"),
        priority=_int_or_none(entity.get("priority")),
        priority_version=_int_or_none(entity.get("priorityVersion")),
        layout=_int_or_none(entity.get("layout")),
    )


def _created(props: dict[str, Any]) -> dict[str, Any]:
    """A new record's properties: it names the layout its job's files get, unless told another."""
    return {"layout": CURRENT_LAYOUT, **props}


def _runs(value: Any) -> tuple[dict[str, Any], ...] | None:
    if not isinstance(value, str):
        return None
    try:
        items = json.loads(value)
    except ValueError:
        return None
    return tuple(item for item in items if isinstance(item, dict)) if isinstance(items, list) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


_RUN_PROPERTIES = frozenset({"startTime", "endTime", "reason", "disableTasks", "controls"})
"""What a run's record holds of that run alone."""


def _record_properties(row: Row) -> dict[str, Any]:
    return {key: value for key, value in row.props.items() if key != "indexKey"}


RECENT_JOBS = 1024
"""Job records a store remembers having read (`JobStore.recent`), the least recently read out first."""


class JobStore:
    """The job index of all jobs over one `RowStore`. Thread-safe; cheap to construct.

    It remembers the records it read last (`recent`), so that a view may answer from one while storage is
    slow; a write through the store forgets them all, since what it wrote may differ from what was read.
    `clock` (monotonic seconds) says how old a remembered record is."""

    def __init__(self, rows: RowStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rows = rows
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, tuple[float, JobRecord]] = OrderedDict()
        self._writes = 0
        """Writes through this store so far: a read that a write overtook is not remembered."""

    def recent(self, job_id: str, max_age: float) -> JobRecord | None:
        """The job's record as this store last read it, if that was at most `max_age` seconds ago and nothing
        was written through this store since; None otherwise. Another process's writes are not seen: a caller
        takes it only where a record that old will do."""
        with self._lock:
            found = self._recent.get(job_id)
        if found is None or self._clock() - found[0] > max_age:
            return None
        return found[1]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        # Counted as it starts and as it ends: a read that began in between read what was there before.
        self._forget()
        try:
            yield
        finally:
            self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._writes += 1
            self._recent.clear()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str] | None = None, options: ClientOptions | None = None) -> JobStore:
        """On the table ``BatchJobs`` of the account in ``AzureWebJobsStorage`` (``os.environ`` when None)."""
        from durable_batch.storage.table_rows import TableRows

        source = os.environ if settings is None else settings
        return cls(TableRows(get_account(connection_from_settings(source), options), TABLE))

    def _lookup(self, job_id: str) -> Row | None:
        return self._rows.get(_PARTITION, f"id|{job_id}")

    def upsert_job(self, record: JobRecord) -> bool:
        """Create or update the job's record by the merge rule. Returns False if it was skipped as stale."""
        with self._writing():
            return self._upsert(record)

    def _upsert(self, record: JobRecord) -> bool:
        for _ in range(_tables.MAX_ROUNDS):
            current = self._lookup(record.job_id)
            new = _properties(record)
            operations: list[Operation] = []
            if current is None:
                index = _index_key(record.created, record.job_id)
                merged = _created(new)
                operations.append(Put(f"id|{record.job_id}", {**merged, "indexKey": index}, if_match="absent"))
            else:
                stored_run = _int_or_none(current.props.get("run")) or 1
                run = record.run or stored_run
                if not job_write_applies(stored_run, JobState(current.props["state"]), run, record.state):
                    return False
                index = str(current.props["indexKey"])
                kept = _record_properties(current)
                if run > stored_run:
                    # A new run starts from its own record: only the job's identity and settings carry over.
                    kept = {key: value for key, value in kept.items() if key not in _RUN_PROPERTIES}
                merged = {**kept, **new, "created": current.props["created"]}
                operations.append(Put(f"id|{record.job_id}", {**merged, "indexKey": index}, if_match=current.etag))
                if current.props["state"] != merged["state"]:
                    operations.append(Delete(f"state|{current.props['state']}|{index}"))
            for key in (f"all|{index}", f"state|{merged['state']}|{index}"):
                operations.append(Put(key, merged))
            try:
                self._rows.commit(_PARTITION, operations)
            except ConcurrencyConflict:
                continue
            return True
        raise ConcurrencyConflict(
            f"the record of job {record.job_id!r} kept changing under {_tables.MAX_ROUNDS} attempts to write it"
        )

    def create_job(self, record: JobRecord) -> bool:
        """Create the job's record only if it has none: False (and nothing written) when one exists.

        One commit whose lookup-row create fails when the row exists, so of two concurrent submits of the
        same id exactly one creates the record.
        """
        index = _index_key(record.created, record.job_id)
        props = _created(_properties(record))
        operations: list[Operation] = [Put(f"id|{record.job_id}", {**props, "indexKey": index}, if_match="absent")]
        operations += [Put(key, props) for key in (f"all|{index}", f"state|{record.state.value}|{index}")]
        with self._writing():
            try:
                self._rows.commit(_PARTITION, operations)
            except ConcurrencyConflict:
                return False
            return True

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if there is none."""
        check_id("job id", job_id)
        with self._lock:
            writes = self._writes
        read_at = self._clock()
        row = self._lookup(job_id)
        record = None if row is None else _from_props(row.props)
        with self._lock:
            if record is None or writes != self._writes:
                self._recent.pop(job_id, None)
            else:
                self._recent[job_id] = (read_at, record)
                self._recent.move_to_end(job_id)
                while len(self._recent) > RECENT_JOBS:
                    self._recent.popitem(last=False)
        return record

    def list_jobs(
        self, state: JobState | str | None = None, page_size: int = 50, continuation_token: str | None = None
    ) -> JobPage:
        """One page of jobs, newest first, optionally only those in ``state``.

        A page holds ``page_size`` records (1-1000) unless it is the last; ``continuation_token`` is None exactly
        on the last page. The token is opaque, URL-safe, and valid only with the same state filter. A range query
        on one index: the cost is one round trip per page whatever the number of jobs.
        """
        wanted = JobState(state) if state is not None else None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        prefix = f"state|{wanted.value}|" if wanted is not None else "all|"
        scope = {"kind": "jobs", "state": wanted.value if wanted else None}
        after = decode_token(continuation_token, scope) if continuation_token is not None else prefix
        # '}' is the character after '|', so RowKey < prefix-with-'}' bounds the range to the prefix.
        end = prefix[:-1] + "}"
        # The range starts at `after` itself, which is the previous page's last row (skipped) or the prefix
        # (never a row); one row more than the page says whether there is a next page.
        rows = [row for row in self._rows.range(_PARTITION, after, end, limit=page_size + 2) if row.key != after]
        page = rows[:page_size]
        more = len(rows) > page_size
        token = encode_token(scope, page[-1].key) if more else None
        return JobPage(records=[_from_props(row.props) for row in page], continuation_token=token)

    def delete_job(self, job_id: str) -> bool:
        """Delete the job's record (all its rows). Returns False if there was none."""
        check_id("job id", job_id)
        with self._writing():
            return self._delete(job_id)

    def _delete(self, job_id: str) -> bool:
        for _ in range(_tables.MAX_ROUNDS):
            current = self._lookup(job_id)
            if current is None:
                return False
            index = current.props["indexKey"]
            operations: list[Operation] = [Delete(current.key, if_match=current.etag)]
            operations += [Delete(key) for key in (f"all|{index}", f"state|{current.props['state']}|{index}")]
            try:
                self._rows.commit(_PARTITION, operations)
            except ConcurrencyConflict:
                continue
            return True
        raise ConcurrencyConflict(f"the record of job {job_id!r} kept changing while deleting it")
