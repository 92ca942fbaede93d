"""The seam under the task store: rows of JSON-able properties, keyed by (partition key, row key).

`RowStore` is what a backend implements: get one row, read a key range in order, commit a few writes to one
partition atomically (optionally conditioned on ETags), delete a partition. It is Azure Table Storage's model
cut down to what the task and job records need, so the table backend (`durable_batch.storage.table_rows`) is a thin
translation and the in-memory backend here is exact enough for fast tests of the activities. The stores over
it pass one contract suite on both (`tests/e2e/storage/test_task_store_contract.py`,
`tests/e2e/storage/test_job_store_contract.py`, `tests/e2e/storage/test_row_store_contract.py`).

A commit may delete single rows (`Delete`): the job index moves a job's row when its state changes. Values are
str, int, float, bool, None or an aware datetime (read back as an aware UTC datetime, possibly of a subclass);
a backend keeps them as given. Large JSON is split over several properties by the caller
(`durable_batch.storage.tasks`), since a table property holds at most 64 KiB.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from durable_batch.lib.azure_storage.errors import ConcurrencyConflict

__all__ = ["MAX_COMMIT", "Delete", "MemoryRows", "Operation", "Put", "Row", "RowStore"]

MAX_COMMIT = 100
"""Operations in one `commit`: the table service refuses a transaction of more."""

Value = str | int | float | bool | datetime | None


@dataclass(frozen=True)
class Row:
    key: str
    props: Mapping[str, Any]
    etag: str


@dataclass(frozen=True)
class Put:
    """Create or replace row `key` with `props`. With `if_match`, only while the stored row has that ETag;
    with `if_match="absent"`, only when there is no such row yet."""

    key: str
    props: Mapping[str, Any]
    if_match: str | None = None


@dataclass(frozen=True)
class Delete:
    """Remove row `key`, which must exist (else the commit fails with `ConcurrencyConflict`, as the table
    service refuses it); with `if_match`, only while the stored row has that ETag."""

    key: str
    if_match: str | None = None


Operation = Put | Delete


class RowStore(Protocol):
    """Rows in partitions; see the module."""

    def get(self, partition: str, key: str) -> Row | None:
        """The row, or None."""
        ...

    def range(
        self,
        partition: str,
        low: str,
        high: str,
        *,
        select: Sequence[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Iterator[Row]:
        """Rows with `low <= key < high`, in key order, fetched lazily. `select` names the properties to read
        (others may be left out, to save bandwidth); `limit` caps the rows, so that a caller that wants one
        page does not fetch a thousand; `page` caps the rows a request fetches, for rows so large that a full
        page of them would take much memory (a backend may fetch fewer)."""
        ...

    def commit(self, partition: str, operations: Sequence[Operation]) -> None:
        """Apply at most `MAX_COMMIT` operations to one partition, all or none. Raises `ConcurrencyConflict`
        when a condition fails (nothing is applied then)."""
        ...

    def delete_partition(self, partition: str) -> int:
        """Remove every row of the partition; returns how many there were."""
        ...


class MemoryRows:
    """`RowStore` in a dict, for tests and for running the activities without storage. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Row]] = {}
        self.commits = 0
        """How many commits were applied: tests count storage round trips with it."""

    def get(self, partition: str, key: str) -> Row | None:
        with self._lock:
            return self._rows.get(partition, {}).get(key)

    def range(
        self,
        partition: str,
        low: str,
        high: str,
        *,
        select: Sequence[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Iterator[Row]:
        with self._lock:
            rows = sorted(
                (row for key, row in self._rows.get(partition, {}).items() if low <= key < high),
                key=lambda row: row.key,
            )
        yield from rows[:limit]

    def commit(self, partition: str, operations: Sequence[Operation]) -> None:
        if len(operations) > MAX_COMMIT:
            raise ValueError(f"a commit holds at most {MAX_COMMIT} operations, not {len(operations)}")
        with self._lock:
            rows = self._rows.setdefault(partition, {})
            for op in operations:
                stored = rows.get(op.key)
                if isinstance(op, Delete):
                    if stored is None or (op.if_match is not None and stored.etag != op.if_match):
                        raise ConcurrencyConflict(f"row {partition}/{op.key} changed since it was read")
                elif op.if_match is not None:
                    expected_absent = op.if_match == "absent"
                    if (stored is None) != expected_absent or (stored is not None and stored.etag != op.if_match):
                        raise ConcurrencyConflict(f"row {partition}/{op.key} changed since it was read")
            for op in operations:
                if isinstance(op, Delete):
                    del rows[op.key]
                else:
                    rows[op.key] = Row(op.key, dict(op.props), uuid.uuid4().hex)
            if not rows:
                del self._rows[partition]
            self.commits += 1

    def delete_partition(self, partition: str) -> int:
        with self._lock:
            return len(self._rows.pop(partition, {}))

    def snapshot(self, partition: str) -> dict[str, dict[str, Value]]:
        """Every row of a partition as plain dicts (for assertions)."""
        with self._lock:
            return {key: dict(row.props) for key, row in self._rows.get(partition, {}).items()}
