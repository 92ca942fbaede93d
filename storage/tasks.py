"""Task records in Table Storage: one entity per task, queryable by job and state.

Table ``BatchTasks`` (configurable); PartitionKey = job id, RowKey = task id. Properties:

``state``          pending | running | succeeded | failed | skipped
``stateRank``      0 pending, 1 running, 2 finished (succeeded, failed, skipped): the no-downgrade order
``attempts``       attempts started so far (never decreases)
``error``          the last error, cut to `ERROR_MAX_CHARS` (its head and its tail, where tracebacks end)
``startTime``, ``endTime``   UTC
``result``         the result as JSON text when at most `INLINE_RESULT_MAX_CHARS` characters
``resultBlob``     otherwise the name of the result's blob in the results container
``partition``      the index of the job partition (sub-orchestration) that ran the task

The merge rule. Writers race: a worker's late "running" write can arrive after the task's "succeeded", and a
retried activity can write its records twice. So a write is applied to an existing record only when its
``(stateRank, attempts)`` is at least the stored one (compared as a pair); otherwise it is skipped and
reported. An applied write merges: properties the new record leaves as None keep their stored values, and
``attempts`` becomes the larger of the two. A write that would change nothing is not sent: replays of the same
write, common after activity retries, cost no write and cause no contention. The check and the write are
atomic: each group of records is read with its ETags and written in one transaction conditioned on them; when
another writer got in between, the group is read again (after a short random pause) and retried.

Writes go in transactions of at most 100 records (a service limit), so writing 10,000 records costs about 200
round trips (a read and a transaction per 100), not 10,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from batch.states import TaskState
from storage import _json, _tables
from storage._names import check_id
from storage._tokens import decode_token, encode_token
from storage.errors import ConcurrencyConflict, SerializationError

__all__ = [
    "ERROR_MAX_CHARS",
    "INLINE_RESULT_MAX_CHARS",
    "MAX_PAGE_SIZE",
    "STATE_RANK",
    "TABLE",
    "TaskPage",
    "TaskRecord",
    "TaskState",
    "TaskStore",
    "UpsertReport",
    "truncate_error",
]

TABLE = "BatchTasks"
# Keeps a transaction of 100 records far below the service's 4 MiB body limit and each property below 64 KiB.
INLINE_RESULT_MAX_CHARS = 8 * 1024
ERROR_MAX_CHARS = 4000
MAX_PAGE_SIZE = 1000


STATE_RANK: Mapping[TaskState, int] = {
    TaskState.PENDING: 0,
    TaskState.RUNNING: 1,
    TaskState.SUCCEEDED: 2,
    TaskState.FAILED: 2,
    TaskState.SKIPPED: 2,
}


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
    """One task's record. On writes, None means "leave the stored value" (see the module's merge rule)."""

    task_id: str
    state: TaskState
    attempts: int = 0
    error: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    result_json: str | None = None
    result_blob: str | None = None
    partition: int | None = None

    def __post_init__(self) -> None:
        check_id("task id", self.task_id)
        object.__setattr__(self, "state", TaskState(self.state))
        if self.attempts < 0:
            raise ValueError(f"task {self.task_id!r}: attempts must be >= 0, got {self.attempts}")
        if self.error is not None and len(self.error) > ERROR_MAX_CHARS:
            object.__setattr__(self, "error", truncate_error(self.error))
        if self.result_json is not None and len(self.result_json) > INLINE_RESULT_MAX_CHARS:
            raise SerializationError(
                f"task {self.task_id!r}: an inline result is limited to {INLINE_RESULT_MAX_CHARS} characters; "
                "store larger ones with ResultStore.place_task_result and pass the blob name"
            )

    @property
    def rank(self) -> int:
        return STATE_RANK[self.state]

    @property
    def result(self) -> Any:
        """The inline result decoded from JSON (None when there is none or it lives in ``result_blob``)."""
        if self.result_json is None:
            return None
        return _json.loads(self.result_json, f"the inline result of task {self.task_id!r}")


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRecord]
    continuation_token: str | None
    """Pass it back to get the next page; None on the last page."""


@dataclass(frozen=True)
class UpsertReport:
    written: int
    unchanged: int = 0
    """Records whose write would change nothing stored (a replayed write): not sent."""
    skipped: list[str] = field(default_factory=list)
    """Ids of records not written because the stored record was further along (the no-downgrade rule)."""


def _to_entity(job_id: str, record: TaskRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": job_id,
        "RowKey": record.task_id,
        "state": record.state.value,
        "stateRank": record.rank,
        "attempts": record.attempts,
    }
    optional: dict[str, Any] = {
        "error": record.error,
        "startTime": _utc(record.start_time),
        "endTime": _utc(record.end_time),
        "result": record.result_json,
        "resultBlob": record.result_blob,
        "partition": record.partition,
    }
    entity.update({key: value for key, value in optional.items() if value is not None})
    return entity


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain_time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _from_entity(entity: Mapping[str, Any]) -> TaskRecord:
    return TaskRecord(
        task_id=entity["RowKey"],
        state=TaskState(entity["state"]),
        attempts=int(entity.get("attempts", 0)),
        error=entity.get("error"),
        start_time=_plain_time(entity.get("startTime")),
        end_time=_plain_time(entity.get("endTime")),
        result_json=entity.get("result"),
        result_blob=entity.get("resultBlob"),
        partition=entity.get("partition"),
    )


def _later(a: TaskRecord, b: TaskRecord) -> TaskRecord:
    """Of two records for one task in the same call, the one the merge rule keeps (b on a tie)."""
    return a if (a.rank, a.attempts) > (b.rank, b.attempts) else b


class TaskStore(_tables.TableStore):
    """Task records of all jobs in one table. Thread-safe; cheap to construct."""

    TABLE = TABLE

    # -- writes ------------------------------------------------------------------------------------------------

    def upsert_tasks(self, job_id: str, records: Iterable[TaskRecord], *, force: bool = False) -> UpsertReport:
        """Create or update task records, by the module's merge rule, in transactions of at most 100.

        ``force=True`` replaces the records as given, without the rule (to reset tasks for a re-run).
        Several records for one task in one call collapse to the one the rule keeps.
        """
        check_id("job id", job_id)
        latest: dict[str, TaskRecord] = {}
        for record in records:
            seen = latest.get(record.task_id)
            latest[record.task_id] = record if seen is None else _later(seen, record)
        # Sorted, so each transaction's records span a narrow RowKey range that one range query reads back.
        entities = [_to_entity(job_id, latest[key]) for key in sorted(latest)]
        written = unchanged = 0
        skipped: list[str] = []
        table = self._table()
        with self._errors(f"write task records of job {job_id!r}"):
            for group in _tables.chunks(entities):
                if force:
                    table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in group])
                    written += len(group)
                else:
                    done, same, passed_over = self._guarded_write(table, job_id, group)
                    written += done
                    unchanged += same
                    skipped.extend(passed_over)
        return UpsertReport(written=written, unchanged=unchanged, skipped=skipped)

    def _guarded_write(
        self, table: TableClient, job_id: str, group: list[Mapping[str, Any]]
    ) -> tuple[int, int, list[str]]:
        for attempt in range(_tables.MAX_ROUNDS):
            stored = self._read_range(table, job_id, group[0]["RowKey"], group[-1]["RowKey"])
            operations: list[Any] = []
            skipped: list[str] = []
            unchanged = 0
            for entity in group:
                current = stored.get(entity["RowKey"])
                if current is None:
                    operations.append(("create", entity))
                    continue
                old = (int(current.get("stateRank", 0)), int(current.get("attempts", 0)))
                if (entity["stateRank"], entity["attempts"]) < old:
                    skipped.append(entity["RowKey"])
                    continue
                merged = {**entity, "attempts": max(entity["attempts"], old[1])}
                if all(current.get(key) == value for key, value in merged.items()):
                    unchanged += 1
                    continue
                options = {
                    "mode": UpdateMode.MERGE,
                    "etag": current.metadata["etag"],
                    "match_condition": MatchConditions.IfNotModified,
                }
                operations.append(("update", merged, options))
            if not operations:
                return 0, unchanged, skipped
            try:
                table.submit_transaction(operations)
            except TableTransactionError as exc:
                if _tables.is_conflict(exc):
                    _tables.back_off(attempt)
                    continue
                raise
            return len(operations), unchanged, skipped
        raise ConcurrencyConflict(
            f"task records of job {job_id!r} ({group[0]['RowKey']} .. {group[-1]['RowKey']}) kept changing "
            f"under {_tables.MAX_ROUNDS} attempts to write them; retry the write"
        )

    @staticmethod
    def _read_range(table: TableClient, job_id: str, low: str, high: str) -> dict[str, TableEntity]:
        entities = table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
            parameters={"pk": job_id, "low": low, "high": high},
            results_per_page=MAX_PAGE_SIZE,
        )
        return {entity["RowKey"]: entity for entity in entities}

    # -- reads -------------------------------------------------------------------------------------------------

    def get_task(self, job_id: str, task_id: str) -> TaskRecord | None:
        """One task's record, or None if the job has no such task."""
        check_id("job id", job_id)
        check_id("task id", task_id)
        with self._errors(f"read task {task_id!r} of job {job_id!r}"):
            try:
                entity = self._table().get_entity(job_id, task_id)
            except ResourceNotFoundError:
                return None
        return _from_entity(entity)

    def query_tasks(
        self,
        job_id: str,
        state: TaskState | str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
    ) -> TaskPage:
        """One page of the job's tasks in task id order, optionally only those in ``state``.

        A page holds ``page_size`` records (1-1000) unless it is the last; ``continuation_token`` is None
        exactly on the last page. The token is opaque, URL-safe, and valid only for the same job and state.
        """
        check_id("job id", job_id)
        wanted = TaskState(state) if state is not None else None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        scope = {"kind": "tasks", "job": job_id, "state": wanted.value if wanted else None}
        query = "PartitionKey eq @pk"
        parameters: dict[str, Any] = {"pk": job_id}
        if continuation_token is not None:
            query += " and RowKey gt @after"
            parameters["after"] = decode_token(continuation_token, scope)
        if wanted is not None:
            query += " and state eq @state"
            parameters["state"] = wanted.value
        records: list[TaskRecord] = []
        more = False
        with self._errors(f"list tasks of job {job_id!r}"):
            # One record beyond the page tells whether another page exists, so the last page has no token.
            entities = self._table().query_entities(
                query, parameters=parameters, results_per_page=min(page_size + 1, MAX_PAGE_SIZE)
            )
            for entity in entities:
                if len(records) == page_size:
                    more = True
                    break
                records.append(_from_entity(entity))
        token = encode_token(scope, records[-1].task_id) if more else None
        return TaskPage(records=records, continuation_token=token)

    def iter_tasks(self, job_id: str, state: TaskState | str | None = None) -> Iterator[TaskRecord]:
        """All of the job's task records (optionally in one state), fetched lazily 1,000 at a time."""
        token: str | None = None
        while True:
            page = self.query_tasks(job_id, state, MAX_PAGE_SIZE, token)
            yield from page.records
            token = page.continuation_token
            if token is None:
                return

    def count_by_state(self, job_id: str) -> dict[TaskState, int]:
        """How many of the job's tasks are in each state (every state present, zeros included).

        Cost: it reads every task record of the job (only the ``state`` property), one round trip per 1,000
        tasks: about 100 requests for a 100,000-task job. Exact, so fit for a job's final counts; for frequent
        progress reads of a large running job, keep counters in the job record instead.
        """
        check_id("job id", job_id)
        counts = dict.fromkeys(TaskState, 0)
        with self._errors(f"count tasks of job {job_id!r}"):
            entities = self._table().query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": job_id},
                select=["state"],
                results_per_page=MAX_PAGE_SIZE,
            )
            for entity in entities:
                counts[TaskState(entity["state"])] += 1
        return counts

    # -- deletion ----------------------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> int:
        """Delete all of the job's task records, 100 per transaction. Returns how many. Idempotent."""
        check_id("job id", job_id)
        table = self._table()
        deleted = 0
        with self._errors(f"delete task records of job {job_id!r}"):
            while True:
                # A fresh query each round: the rows of the previous round are gone, so no token is needed.
                pages = table.query_entities(
                    "PartitionKey eq @pk",
                    parameters={"pk": job_id},
                    select=["RowKey"],
                    results_per_page=MAX_PAGE_SIZE,
                ).by_page()
                page = next(pages, None)
                keys = [{"PartitionKey": job_id, "RowKey": entity["RowKey"]} for entity in page or []]
                if not keys:
                    return deleted
                for group in _tables.chunks(keys):
                    deleted += _delete_group(table, group)


def _delete_group(table: TableClient, group: list[Mapping[str, Any]]) -> int:
    try:
        table.submit_transaction([("delete", entity) for entity in group])
        return len(group)
    except HttpResponseError as exc:
        if not (_tables.is_conflict(exc) or exc.status_code == 404):
            raise
    # Another deleter removed some rows first; finish one by one (deleting a missing entity succeeds).
    for entity in group:
        table.delete_entity(entity["PartitionKey"], entity["RowKey"])
    return len(group)
