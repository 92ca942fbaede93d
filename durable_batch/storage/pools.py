"""Pool definitions over a `RowStore`: one row per pool, listed in id order, with paging.

On Azure, table ``BatchPools`` (`storage.table_rows`); in memory for tests (`storage.rows.MemoryRows`). Every row
is in the partition ``pools`` under the key ``id|{poolId}``. The row holds what a `PUT` defined and the
configuration's `version`; how the slots are in use now is the pool entity's (`durable_batch.orchestrators.pool`), not
here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from durable_batch.batch import wire
from durable_batch.batch.pools import DEFAULT_POOL, RateLimit
from durable_batch.batch.times import as_utc
from durable_batch.lib.azure_storage.account import ClientOptions, connection_from_settings, get_account
from durable_batch.lib.azure_storage.errors import ConcurrencyConflict
from durable_batch.storage._names import check_id
from durable_batch.storage._tokens import keyed_page
from durable_batch.storage.rows import Delete, Put, Row, RowStore

__all__ = ["TABLE", "PoolPage", "PoolRecord", "PoolStore", "undefined_pool"]

TABLE = "BatchPools"
_PARTITION = "pools"
_PREFIX = "id|"
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PoolRecord:
    """A pool as defined. `version` grows with every definition, so the pool entity keeps the newest."""

    pool_id: str
    task_slots: int
    version: int
    created: datetime
    updated: datetime
    rate_limits: tuple[RateLimit, ...] = ()

    def __post_init__(self) -> None:
        check_id("pool id", self.pool_id)
        object.__setattr__(self, "created", as_utc(self.created))
        object.__setattr__(self, "updated", as_utc(self.updated))

    def ref(self, priority: int, priority_version: int) -> wire.PoolRef:
        """The pool as a job carries it to the pool's entity: its size and rate limits, and the job's priority."""
        return {
            "id": self.pool_id,
            "slots": self.task_slots,
            "version": self.version,
            "priority": priority,
            "priorityVersion": priority_version,
            "rateLimits": {limit.key: [limit.per_second, float(limit.burst)] for limit in self.rate_limits},
        }


def undefined_pool(pool_id: str, default_slots: int) -> PoolRecord:
    """What stands for a pool no `PUT` defined: the `default` pool (always there, version 0, its size from the
    settings), or a pool deleted under a job that names it (version -1: any definition wins)."""
    epoch = datetime.fromtimestamp(0, UTC)
    return PoolRecord(pool_id, default_slots, 0 if pool_id == DEFAULT_POOL else -1, epoch, epoch)


@dataclass(frozen=True)
class PoolPage:
    records: list[PoolRecord]
    continuation_token: str | None


def _properties(record: PoolRecord) -> dict[str, Any]:
    return {
        "poolId": record.pool_id,
        "taskSlots": record.task_slots,
        "version": record.version,
        "created": record.created,
        "updated": record.updated,
        "rateLimits": json.dumps([limit.to_json() for limit in record.rate_limits], separators=(",", ":")),
    }


def _time(value: Any) -> datetime:
    return as_utc(value) if isinstance(value, datetime) else datetime.fromtimestamp(0, tz=UTC)


def _from_row(row: Row) -> PoolRecord:
    props = row.props
    return PoolRecord(
        pool_id=props["poolId"],
        task_slots=int(props["taskSlots"]),
        version=int(props["version"]),
        created=_time(props.get("created")),
        updated=_time(props.get("updated")),
        rate_limits=tuple(
            RateLimit(item["key"], float(item["perSecond"]), int(item.get("burst", 0)))
            for item in json.loads(props.get("rateLimits") or "[]")
        ),
    )


class PoolStore:
    """All pools of an app over one `RowStore`. Thread-safe; cheap to construct."""

    def __init__(self, rows: RowStore) -> None:
        self._rows = rows

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str] | None = None, options: ClientOptions | None = None
    ) -> PoolStore:
        """On the table ``BatchPools`` of the account in ``AzureWebJobsStorage`` (``os.environ`` when None)."""
        from durable_batch.storage.table_rows import TableRows

        source = os.environ if settings is None else settings
        return cls(TableRows(get_account(connection_from_settings(source), options), TABLE))

    def get(self, pool_id: str) -> PoolRecord | None:
        check_id("pool id", pool_id)
        row = self._rows.get(_PARTITION, _PREFIX + pool_id)
        return None if row is None else _from_row(row)

    def put(
        self, pool_id: str, task_slots: int, now: datetime, rate_limits: tuple[RateLimit, ...] = ()
    ) -> tuple[PoolRecord, bool]:
        """Define or redefine a pool; (the record written, whether it is new). A redefinition gets a higher
        version than the one it replaces (its time in ms, or one more when the clock stood still)."""
        check_id("pool id", pool_id)
        for _ in range(10):
            row = self._rows.get(_PARTITION, _PREFIX + pool_id)
            known = None if row is None else _from_row(row)
            version = max(round(now.timestamp() * 1000), known.version + 1 if known is not None else 1)
            record = PoolRecord(pool_id, task_slots, version, known.created if known else now, now, rate_limits)
            condition = "absent" if row is None else row.etag
            try:
                self._rows.commit(_PARTITION, [Put(_PREFIX + pool_id, _properties(record), if_match=condition)])
            except ConcurrencyConflict:
                continue  # defined at the same moment by another request: read it again
            return record, known is None
        raise ConcurrencyConflict(f"pool {pool_id!r} kept changing under 10 attempts")

    def list(self, page_size: int = 50, continuation_token: str | None = None) -> PoolPage:
        """One page of pools in id order; `continuation_token` is None exactly on the last page."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        page, token = keyed_page(self._rows, _PARTITION, _PREFIX, "pools", page_size, continuation_token)
        return PoolPage([_from_row(row) for row in page], token)

    def delete(self, pool_id: str) -> bool:
        """Remove the pool's definition; False when there was none."""
        check_id("pool id", pool_id)
        try:
            self._rows.commit(_PARTITION, [Delete(_PREFIX + pool_id)])
        except ConcurrencyConflict:
            return False
        return True
