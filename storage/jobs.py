"""The job index in Table Storage: one record per job, listed newest first and by state, with paging.

Table ``BatchJobs`` (configurable). Each job has three rows, all in the partition ``jobs`` so that one
transaction updates them together:

``id|{jobId}``                          the lookup row (get by id)
``all|{inverted}|{jobId}``              newest first over all jobs
``state|{state}|{inverted}|{jobId}``    newest first within one state; moved when the state changes

``{inverted}`` is ``9999999999999`` minus the creation time in epoch milliseconds, 13 digits, so that RowKey
order (the only order Table Storage returns) is newest first; the job id breaks ties. Each row carries the whole
record, so listing needs no second lookup. One partition serves about 2,000 writes per second, plenty for job
records, which change a few times per job (its task counts at most every few seconds).

The merge rule matches the task records': a write whose state ranks below the stored one (pending 0, running 1,
cancelling 2, finished 3) is skipped, so a late "running" never overwrites "succeeded", nor hides a requested
cancellation that activities poll for (``cancelling``: command tasks of the job are killed). An applied write
keeps stored values for the properties it leaves as None, and the creation time never changes. Writes are
conditioned on the lookup row's ETag and retried when another writer got in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from batch.states import TaskCounts
from storage import _tables
from storage._names import check_id
from storage._tokens import decode_token, encode_token
from storage.errors import ConcurrencyConflict
from storage.tasks import ERROR_MAX_CHARS, truncate_error

__all__ = ["JOB_STATE_RANK", "TABLE", "JobPage", "JobRecord", "JobState", "JobStore", "TaskCounts"]

TABLE = "BatchJobs"
_PARTITION = "jobs"
_MAX_INVERTED = 9_999_999_999_999
MAX_PAGE_SIZE = 1000


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    """A cancel was requested (by the job API) and the job has not ended yet."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_STATE_RANK: Mapping[JobState, int] = {
    JobState.PENDING: 0,
    JobState.RUNNING: 1,
    JobState.CANCELLING: 2,
    JobState.SUCCEEDED: 3,
    JobState.FAILED: 3,
    JobState.CANCELLED: 3,
}


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

    def __post_init__(self) -> None:
        check_id("job id", self.job_id)
        object.__setattr__(self, "state", JobState(self.state))
        object.__setattr__(self, "created", _utc(self.created))
        if self.reason is not None and len(self.reason) > ERROR_MAX_CHARS:
            object.__setattr__(self, "reason", truncate_error(self.reason))

    @property
    def rank(self) -> int:
        return JOB_STATE_RANK[self.state]


@dataclass(frozen=True)
class JobPage:
    records: list[JobRecord]
    continuation_token: str | None
    """Pass it back to get the next page; None on the last page."""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain_time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


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
        "startTime": _utc(record.start_time) if record.start_time else None,
        "endTime": _utc(record.end_time) if record.end_time else None,
        "specHash": record.spec_hash,
        "reason": record.reason,
    }
    values.update({prop: getattr(record.task_counts, name) for name, prop in _COUNT_PROPERTIES.items()})
    return {key: value for key, value in values.items() if value is not None}


def _from_entity(entity: Mapping[str, Any]) -> JobRecord:
    created = _plain_time(entity.get("created")) or datetime.fromtimestamp(0, tz=UTC)
    counts = TaskCounts(**{name: int(entity.get(prop, 0)) for name, prop in _COUNT_PROPERTIES.items()})
    return JobRecord(
        job_id=entity["jobId"],
        state=JobState(entity["state"]),
        created=created,
        start_time=_plain_time(entity.get("startTime")),
        end_time=_plain_time(entity.get("endTime")),
        task_counts=counts,
        spec_hash=entity.get("specHash"),
        reason=entity.get("reason"),
    )


def _stored_properties(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entity.items() if key not in ("PartitionKey", "RowKey", "indexKey")}


class JobStore(_tables.TableStore):
    """The job index of all jobs in one table. Thread-safe; cheap to construct."""

    TABLE = TABLE

    def _lookup(self, table: TableClient, job_id: str) -> TableEntity | None:
        try:
            return table.get_entity(_PARTITION, f"id|{job_id}")
        except ResourceNotFoundError:
            return None

    def upsert_job(self, record: JobRecord) -> bool:
        """Create or update the job's record by the merge rule. Returns False if it was skipped as stale."""
        table = self._table()
        with self._errors(f"write the record of job {record.job_id!r}"):
            for _ in range(_tables.MAX_ROUNDS):
                current = self._lookup(table, record.job_id)
                new = _properties(record)
                operations: list[Any] = []
                if current is None:
                    index = _index_key(record.created, record.job_id)
                    merged = new
                    lookup = {"PartitionKey": _PARTITION, "RowKey": f"id|{record.job_id}", **merged}
                    operations.append(("create", {**lookup, "indexKey": index}))
                else:
                    if record.rank < int(current.get("stateRank", 0)):
                        return False
                    index = str(current["indexKey"])
                    merged = {**_stored_properties(current), **new, "created": current["created"]}
                    lookup = {"PartitionKey": _PARTITION, "RowKey": f"id|{record.job_id}", **merged}
                    condition = {
                        "mode": UpdateMode.REPLACE,
                        "etag": current.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    }
                    operations.append(("update", {**lookup, "indexKey": index}, condition))
                    if current["state"] != merged["state"]:
                        old_row = f"state|{current['state']}|{index}"
                        operations.append(("delete", {"PartitionKey": _PARTITION, "RowKey": old_row}))
                replace_mode = {"mode": UpdateMode.REPLACE}
                for row in (f"all|{index}", f"state|{merged['state']}|{index}"):
                    operations.append(("upsert", {"PartitionKey": _PARTITION, "RowKey": row, **merged}, replace_mode))
                try:
                    table.submit_transaction(operations)
                except TableTransactionError as exc:
                    if _tables.is_conflict(exc):
                        continue
                    raise
                return True
        raise ConcurrencyConflict(
            f"the record of job {record.job_id!r} kept changing under {_tables.MAX_ROUNDS} attempts to write it"
        )

    def create_job(self, record: JobRecord) -> bool:
        """Create the job's record only if it has none: False (and nothing written) when one exists.

        One transaction whose lookup-row create fails when the row exists, so of two concurrent submits of
        the same id exactly one creates the record.
        """
        table = self._table()
        index = _index_key(record.created, record.job_id)
        props = _properties(record)
        lookup = {"PartitionKey": _PARTITION, "RowKey": f"id|{record.job_id}", **props, "indexKey": index}
        operations: list[Any] = [("create", lookup)]
        for row in (f"all|{index}", f"state|{record.state.value}|{index}"):
            operations.append(
                ("upsert", {"PartitionKey": _PARTITION, "RowKey": row, **props}, {"mode": UpdateMode.REPLACE})
            )
        with self._errors(f"create the record of job {record.job_id!r}"):
            try:
                table.submit_transaction(operations)
            except TableTransactionError as exc:
                if _tables.is_conflict(exc):
                    return False
                raise
        return True

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if there is none."""
        check_id("job id", job_id)
        with self._errors(f"read the record of job {job_id!r}"):
            entity = self._lookup(self._table(), job_id)
        return None if entity is None else _from_entity(entity)

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
        records: list[JobRecord] = []
        last_key = ""
        more = False
        with self._errors("list jobs"):
            entities = self._table().query_entities(
                "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end",
                parameters={"pk": _PARTITION, "after": after, "end": end},
                results_per_page=min(page_size + 1, MAX_PAGE_SIZE),
            )
            for entity in entities:
                if len(records) == page_size:
                    more = True
                    break
                records.append(_from_entity(entity))
                last_key = entity["RowKey"]
        token = encode_token(scope, last_key) if more else None
        return JobPage(records=records, continuation_token=token)

    def delete_job(self, job_id: str) -> bool:
        """Delete the job's record (all its rows). Returns False if there was none."""
        check_id("job id", job_id)
        table = self._table()
        with self._errors(f"delete the record of job {job_id!r}"):
            for _ in range(_tables.MAX_ROUNDS):
                current = self._lookup(table, job_id)
                if current is None:
                    return False
                index = current["indexKey"]
                rows = [f"all|{index}", f"state|{current['state']}|{index}"]
                condition = {"etag": current.metadata["etag"], "match_condition": MatchConditions.IfNotModified}
                operations: list[Any] = [("delete", current, condition)]
                operations += [("delete", {"PartitionKey": _PARTITION, "RowKey": row}) for row in rows]
                try:
                    table.submit_transaction(operations)
                except TableTransactionError as exc:
                    if _tables.is_conflict(exc) or exc.status_code == 404:
                        continue
                    raise
                return True
        raise ConcurrencyConflict(f"the record of job {job_id!r} kept changing while deleting it")
