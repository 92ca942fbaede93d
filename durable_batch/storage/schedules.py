"""Schedule records over a `RowStore`: one row per schedule, listed in id order, with paging.

On Azure, table ``BatchSchedules`` (`storage.table_rows`); in memory for tests (`storage.rows.MemoryRows`). Every
row is in the partition ``schedules`` under the key ``id|{scheduleId}``: a schedule changes a few times per
occurrence at most, far below what one partition serves. A schedule's template is not in its row (a table
property holds 64 KiB, a template may be larger): the row names the blob that holds it.

Writes that change a stored record are conditioned on its ETag (`replace`), so a firing that records its outcome
and a request that disables the schedule cannot overwrite each other; `update` retries such a change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from durable_batch.batch.times import as_utc, iso, parse_time
from durable_batch.lib.azure_storage.account import ClientOptions, connection_from_settings, get_account
from durable_batch.lib.azure_storage.errors import ConcurrencyConflict
from durable_batch.storage import _tables
from durable_batch.storage._names import check_id
from durable_batch.storage._tokens import keyed_page
from durable_batch.storage.rows import Delete, Put, Row, RowStore

__all__ = ["TABLE", "Occurrence", "SchedulePage", "ScheduleRecord", "ScheduleStore"]

TABLE = "BatchSchedules"
_PARTITION = "schedules"
_PREFIX = "id|"
MAX_PAGE_SIZE = 1000
MESSAGE_MAX_CHARS = 1000
"""An occurrence's message is cut to this: twenty of them stay far below a table property's 64 KiB."""


@dataclass(frozen=True)
class Occurrence:
    """What one occurrence did: `submitted` (its job), `skipped` (why), or `error` (what to fix)."""

    time: datetime
    outcome: str
    job_id: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", as_utc(self.time))
        if self.message is not None and len(self.message) > MESSAGE_MAX_CHARS:
            object.__setattr__(self, "message", self.message[: MESSAGE_MAX_CHARS - 3] + "...")

    def to_json(self) -> dict[str, Any]:
        return {"time": iso(self.time), "jobId": self.job_id, "outcome": self.outcome, "message": self.message}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Occurrence:
        moment = parse_time(value.get("time")) or datetime.fromtimestamp(0, tz=UTC)
        return cls(moment, str(value["outcome"]), value.get("jobId"), value.get("message"))


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule as stored. `etag` is the stored row's (None for a record not read from the store)."""

    schedule_id: str
    schedule: str
    spec_hash: str
    template_blob: str
    """The blob (results container) that holds the template: the user's, or the copy of an inline one."""
    inline: bool
    """True when the template was given inline (its copy is the schedule's own, deleted with it)."""
    generation: str
    """Which orchestration drives the schedule; a new one on every enable, so an old one stops."""
    created: datetime
    enabled: bool = True
    start_at: datetime | None = None
    end_at: datetime | None = None
    next_occurrence: datetime | None = None
    completed: bool = False
    """No occurrence is left (past `end_at`): the schedule fires nothing more."""
    last: Occurrence | None = None
    last_job_id: str | None = None
    """The latest job this schedule submitted: an occurrence is skipped while it runs."""
    recent_problems: tuple[Occurrence, ...] = ()
    """Skips and errors, newest first, bounded by the caller."""
    etag: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_id("schedule id", self.schedule_id)
        object.__setattr__(self, "created", as_utc(self.created))


@dataclass(frozen=True)
class SchedulePage:
    records: list[ScheduleRecord]
    continuation_token: str | None


def _properties(record: ScheduleRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "scheduleId": record.schedule_id,
        "schedule": record.schedule,
        "specHash": record.spec_hash,
        "templateBlob": record.template_blob,
        "inline": record.inline,
        "generation": record.generation,
        "created": record.created,
        "enabled": record.enabled,
        "startAt": record.start_at,
        "endAt": record.end_at,
        "nextOccurrence": record.next_occurrence,
        "completed": record.completed,
        "last": json.dumps(record.last.to_json()) if record.last else None,
        "lastJobId": record.last_job_id,
        "recentProblems": json.dumps([item.to_json() for item in record.recent_problems]),
    }
    return {key: value for key, value in values.items() if value is not None}


def _time(value: Any) -> datetime | None:
    return as_utc(value) if isinstance(value, datetime) else None


def _from_row(row: Row) -> ScheduleRecord:
    props = row.props
    last = props.get("last")
    return ScheduleRecord(
        schedule_id=props["scheduleId"],
        schedule=props["schedule"],
        spec_hash=props["specHash"],
        template_blob=props["templateBlob"],
        inline=bool(props["inline"]),
        generation=props["generation"],
        created=_time(props.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        enabled=bool(props.get("enabled", True)),
        start_at=_time(props.get("startAt")),
        end_at=_time(props.get("endAt")),
        next_occurrence=_time(props.get("nextOccurrence")),
        completed=bool(props.get("completed", False)),
        last=Occurrence.from_json(json.loads(last)) if last else None,
        last_job_id=props.get("lastJobId"),
        recent_problems=tuple(Occurrence.from_json(item) for item in json.loads(props.get("recentProblems", "[]"))),
        etag=row.etag,
    )


class ScheduleStore:
    """All schedules of an app over one `RowStore`. Thread-safe; cheap to construct."""

    def __init__(self, rows: RowStore) -> None:
        self._rows = rows

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str] | None = None, options: ClientOptions | None = None
    ) -> ScheduleStore:
        """On the table ``BatchSchedules`` of the account in ``AzureWebJobsStorage`` (``os.environ`` when None)."""
        from durable_batch.storage.table_rows import TableRows

        source = os.environ if settings is None else settings
        return cls(TableRows(get_account(connection_from_settings(source), options), TABLE))

    def create(self, record: ScheduleRecord) -> bool:
        """Store a new schedule; False (and nothing written) when one with its id exists."""
        try:
            self._rows.commit(_PARTITION, [Put(_PREFIX + record.schedule_id, _properties(record), if_match="absent")])
        except ConcurrencyConflict:
            return False
        return True

    def get(self, schedule_id: str) -> ScheduleRecord | None:
        check_id("schedule id", schedule_id)
        row = self._rows.get(_PARTITION, _PREFIX + schedule_id)
        return None if row is None else _from_row(row)

    def replace(self, record: ScheduleRecord) -> bool:
        """Write `record` over the stored one, only while that still has `record.etag`: False when it changed
        or is gone (read it again and decide again)."""
        if record.etag is None:
            raise ValueError("replace needs a record read from the store (with its etag)")
        try:
            self._rows.commit(_PARTITION, [Put(_PREFIX + record.schedule_id, _properties(record), record.etag)])
        except ConcurrencyConflict:
            return False
        return True

    def update(
        self, schedule_id: str, change: Callable[[ScheduleRecord], ScheduleRecord | None]
    ) -> ScheduleRecord | None:
        """Apply `change` to the stored record until it is written without a concurrent change in between.
        Returns the record written, or None when there is no such schedule or `change` returned None."""
        for _ in range(_tables.MAX_ROUNDS):
            current = self.get(schedule_id)
            if current is None:
                return None
            changed = change(current)
            if changed is None:
                return None
            changed = replace(changed, etag=current.etag)
            if self.replace(changed):
                return self.get(schedule_id) or changed
        raise ConcurrencyConflict(f"schedule {schedule_id!r} kept changing under {_tables.MAX_ROUNDS} attempts")

    def list(self, page_size: int = 50, continuation_token: str | None = None) -> SchedulePage:
        """One page of schedules in id order; `continuation_token` is None exactly on the last page."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        page, token = keyed_page(self._rows, _PARTITION, _PREFIX, "schedules", page_size, continuation_token)
        return SchedulePage([_from_row(row) for row in page], token)

    def delete(self, schedule_id: str) -> bool:
        """Remove the schedule's record; False when there was none."""
        check_id("schedule id", schedule_id)
        try:
            self._rows.commit(_PARTITION, [Delete(_PREFIX + schedule_id)])
        except ConcurrencyConflict:
            return False
        return True
